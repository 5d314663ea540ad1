#!/usr/bin/env python3
"""Independent check that ouro's shards load as they are in pyarrow and Hugging Face `datasets`.

Usage: check_shards.py DATASET_ROOT [CONFIG ...]

For each config directory (`<root>/<config>/train-*.parquet`) it checks that
 - every text column is `string`, never `large_string`;
 - the TRL columns of the config are present with the right types;
 - `datasets.load_dataset("parquet", data_files=...)` loads it with the same row count;
 - the directory itself reads as a table (`pyarrow.parquet.read_table(DIR)`, what
   `pandas.read_parquet(DIR)` calls): nothing else in it looks like data.
Exits non-zero with a message naming the file and column on the first failure.
"""
import glob
import os
import sys

import pyarrow as pa
import pyarrow.parquet as pq

TRL_COLUMNS = {
    "sft": {"prompt": pa.string(), "completion": pa.string()},
    "dpo": {"prompt": pa.string(), "chosen": pa.string(), "rejected": pa.string()},
    "lintseq": {"prompt": pa.string(), "completion": pa.string()},
    "repair": {"messages": pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))},
}


def no_large_types(t, where):
    if pa.types.is_large_string(t) or pa.types.is_large_binary(t) or pa.types.is_large_list(t):
        sys.exit(f"{where}: uses {t}; ouro must write string/list, never large_*")
    if pa.types.is_list(t):
        no_large_types(t.value_type, where)
    if pa.types.is_struct(t):
        for f in t:
            no_large_types(f.type, f"{where}.{f.name}")


def check_config(root, config):
    files = sorted(glob.glob(os.path.join(root, config, "train-*.parquet")))
    if not files:
        sys.exit(f"{root}/{config}: no train-*.parquet files")
    rows = 0
    for path in files:
        schema = pq.read_schema(path)
        for field in schema:
            no_large_types(field.type, f"{path}: column {field.name}")
        for name, want in TRL_COLUMNS.get(config, {}).items():
            if name not in schema.names:
                sys.exit(f"{path}: missing TRL column '{name}'")
            got = schema.field(name).type
            # Nullability of nested fields does not matter to TRL; the types must.
            if str(got).replace(" not null", "") != str(want):
                sys.exit(f"{path}: column '{name}' is {got}, TRL expects {want}")
        meta = pq.ParquetFile(path).metadata
        rows += meta.num_rows
        if meta.num_row_groups and meta.row_group(0).num_columns and not meta.row_group(0).column(0).has_offset_index:
            sys.exit(f"{path}: no page index (offset index missing)")
    import datasets

    ds = datasets.load_dataset("parquet", data_files=files, split="train")
    if ds.num_rows != rows:
        sys.exit(f"{root}/{config}: datasets loaded {ds.num_rows} rows, parquet has {rows}")
    for name in TRL_COLUMNS.get(config, {}):
        if name not in ds.column_names:
            sys.exit(f"{root}/{config}: datasets sees no column '{name}'")
    whole = pq.read_table(os.path.join(root, config))
    if whole.num_rows != rows:
        sys.exit(f"{root}/{config}: read_table of the directory gave {whole.num_rows} rows, not {rows}")
    print(f"ok {config}: {rows} rows in {len(files)} file(s)")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    root = sys.argv[1]
    configs = sys.argv[2:] or sorted(
        d for d in os.listdir(root) if glob.glob(os.path.join(root, d, "train-*.parquet"))
    )
    for config in configs:
        check_config(root, config)


if __name__ == "__main__":
    main()
