//! Turning one generation into a [`Sample`], exactly as the importer does
//! (`ouro_import::sample` is the one implementation).

use ouro_data::{RecordedSampling, Sample};
use ouro_import::sample::{to_sample as import_to_sample, Generation, Provenance};

use crate::{Job, SampleOptions};

/// One generation as a backend returns it, before ids and extraction.
pub(crate) type Raw = Generation;

pub(crate) fn to_sample(job: &Job, opts: &SampleOptions, model: &str, raw: Raw) -> Sample {
    import_to_sample(
        job.problem,
        Provenance {
            round: opts.round,
            index: job.index,
            model,
            params: RecordedSampling {
                temperature: Some(opts.temperature),
                top_p: Some(opts.top_p),
                seed: Some(job.seed),
                max_tokens: Some(opts.max_tokens),
            },
        },
        raw,
    )
}
