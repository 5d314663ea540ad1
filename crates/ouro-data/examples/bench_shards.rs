//! Writes and reads N synthetic `Sample` records through ouro's shard writer
//! and reader; prints records/s for each. Used by `scripts/bench-shards.sh`.
//! Usage: bench_shards N DIR

use std::time::Instant;

use ouro_data::shard::{RecordReader, ShardWriter, WriteOptions};
use ouro_data::{RecordedSampling, Sample};

fn sample(i: u64) -> Sample {
    let problem_id = format!("ouro/compose/{:06}", i % 2000);
    let completion = format!(
        "    return sum(x * {} for x in xs if x > {})\n",
        i % 7,
        i % 13
    );
    Sample {
        sample_id: Sample::compute_id(&problem_id, 0, "bench", i as u32, &completion),
        problem_id,
        round: 0,
        index: (i / 2000) as u32,
        model: "bench".into(),
        params: RecordedSampling {
            temperature: Some(0.8),
            top_p: Some(0.95),
            seed: Some(i),
            max_tokens: Some(256),
        },
        code: Some(completion.clone()),
        completion,
        extraction_error: None,
        finish_reason: Some("stop".into()),
        generation_error: None,
        prompt_tokens: Some(40),
        completion_tokens: Some(20),
        logprob: Some(-((i % 100) as f64) / 10.0),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: u64 = args
        .get(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let dir = std::path::PathBuf::from(
        args.get(2)
            .cloned()
            .unwrap_or_else(|| "/tmp/ouro-bench-shards".into()),
    );
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ouro.parquet");
    let rows: Vec<Sample> = (0..n).map(sample).collect();
    let t = Instant::now();
    let mut w = ShardWriter::<Sample>::create(&path, WriteOptions::default()).unwrap();
    w.write_all(&rows).unwrap();
    w.finish().unwrap();
    let write_s = t.elapsed().as_secs_f64();
    drop(rows);
    let t = Instant::now();
    let mut count = 0u64;
    for r in RecordReader::<Sample>::open(&path).unwrap() {
        let r = r.unwrap();
        if !r.completion.is_empty() {
            count += 1;
        }
    }
    let read_s = t.elapsed().as_secs_f64();
    assert_eq!(count, n);
    println!("ouro write {:.0} records/s", n as f64 / write_s);
    println!("ouro read {:.0} records/s", n as f64 / read_s);
}
