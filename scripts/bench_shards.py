"""pyarrow side of bench-shards.sh: the same N sample records, written from
Python dicts and read back to Python dicts (what ouro does with Rust structs)."""
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq

n = int(sys.argv[1])
path = sys.argv[2]


def sample(i):
    completion = f"    return sum(x * {i % 7} for x in xs if x > {i % 13})\n"
    return {
        "sample_id": f"{i:032x}", "problem_id": f"ouro/compose/{i % 2000:06}", "round": 0,
        "index": i // 2000, "model": "bench",
        "params": {"temperature": 0.8, "top_p": 0.95, "seed": i, "max_tokens": 256},
        "completion": completion, "code": completion, "extraction_error": None,
        "finish_reason": "stop", "generation_error": None, "prompt_tokens": 40,
        "completion_tokens": 20, "logprob": -(i % 100) / 10.0,
    }


rows = [sample(i) for i in range(n)]
t = time.perf_counter()
table = pa.Table.from_pylist(rows)
pq.write_table(table, path, compression="snappy")
write_s = time.perf_counter() - t
del rows, table
t = time.perf_counter()
back = pq.read_table(path).to_pylist()
read_s = time.perf_counter() - t
assert len(back) == n
print(f"pyarrow write {n / write_s:.0f} records/s")
print(f"pyarrow read {n / read_s:.0f} records/s")
