//! The one thread that owns the checkpoint: it decodes every request that queued while
//! it was busy as one batch, and sends each request its share, whole or token by token.

use std::path::PathBuf;
use std::sync::mpsc;

use anyhow::anyhow;
use ouro_model::chat::{PromptFormat, PromptRenderer};
use ouro_model::{
    checkpoint, Generation, GenerationRequest, Generator, Prompt, ScoredPrompt, TokenLogprob,
    TokenSink,
};
use tokenizers::Tokenizer;

use super::reply::Event;

/// What the request threads need of the loaded checkpoint.
pub(super) struct Loaded {
    pub(super) chat: PromptRenderer,
    pub(super) tokenizer: Tokenizer,
    /// The model's vocabulary size (token-id prompts must stay below it).
    pub(super) vocab: usize,
}

/// Generation work for the model thread, and where to send the result.
pub(super) struct Work {
    pub(super) requests: Vec<GenerationRequest>,
    /// `Some(k)`: also score each request's prompt, `k` alternatives per token (echo
    /// with log-probs).
    pub(super) score_prompts: Option<usize>,
    pub(super) reply: Reply,
}

/// A whole reply: the generations, and each request's scored prompt when asked for.
pub(super) struct Answered {
    pub(super) generations: Vec<Generation>,
    pub(super) prompts: Vec<ScoredPrompt>,
}

/// Each request's prompt scored, the distinct ones in batched forwards (the `n`
/// completions of a prompt, one after another, share one score).
fn score_prompts(
    generator: &Generator,
    requests: &[GenerationRequest],
    top: usize,
) -> ouro_model::Result<Vec<ScoredPrompt>> {
    let mut distinct: Vec<Prompt> = Vec::new();
    let mut which = Vec::with_capacity(requests.len());
    for r in requests {
        if distinct.last() != Some(&r.prompt) {
            distinct.push(r.prompt.clone());
        }
        which.push(distinct.len() - 1);
    }
    let scored = generator.prompts_logprobs(&distinct, top)?;
    Ok(which.into_iter().map(|i| scored[i].clone()).collect())
}

pub(super) enum Reply {
    /// Everything at once, when the batch is done.
    Whole(mpsc::Sender<Result<Answered, String>>),
    /// Every token as it is sampled, and each choice as it finishes.
    Stream(mpsc::Sender<Event>),
}

/// Sends a batch's progress to the streaming requests in it.
struct Fanout<'a> {
    batch: &'a [Work],
    /// Index of each work's first request in the batch.
    starts: Vec<usize>,
}

impl Fanout<'_> {
    fn send(&self, request: usize, event: impl FnOnce(usize) -> Event) {
        let w = self.starts.partition_point(|&s| s <= request) - 1;
        if let Reply::Stream(tx) = &self.batch[w].reply {
            // A client that went away stops listening; its rows decode on.
            let _ = tx.send(event(request - self.starts[w]));
        }
    }
}

impl TokenSink for Fanout<'_> {
    fn token(&self, request: usize, token: &TokenLogprob) {
        self.send(request, |i| Event::Token(i, token.clone()));
    }
    fn finished(&self, request: usize, generation: &Generation) {
        self.send(request, |i| Event::Finished(i, generation.clone()));
    }
}

pub(super) fn model_thread(
    dir: PathBuf,
    max_batch: usize,
    (place, weights): (ouro_model::Placement, ouro_model::SampleDtype),
    ready: mpsc::Sender<anyhow::Result<Loaded>>,
    work: mpsc::Receiver<Work>,
) {
    let ck = match checkpoint::load_for_sampling(&dir, (&place, weights)) {
        Ok(ck) => ck,
        Err(e) => {
            let _ = ready.send(Err(anyhow!("loading checkpoint {}: {e}", dir.display())));
            return;
        }
    };
    let Some(tok) = ck.tokenizer.as_ref() else {
        let _ = ready.send(Err(anyhow!(
            "{}: no tokenizer.json; ouro serve needs the checkpoint's tokenizer",
            dir.display()
        )));
        return;
    };
    // The checkpoint's own chat template renders chat requests (ChatML without one).
    let chat = match PromptRenderer::for_model(&dir, PromptFormat::ChatMl) {
        Ok(r) => r,
        Err(e) => {
            let _ = ready.send(Err(anyhow!("{e}")));
            return;
        }
    };
    let _ = ready.send(Ok(Loaded {
        chat,
        tokenizer: tok.clone(),
        vocab: ck.decoder.config().vocab_size,
    }));
    let generator = Generator::new(&ck.decoder, tok).with_max_batch(max_batch);
    while let Ok(first) = work.recv() {
        // Everything that queued up while the last batch ran is decoded together.
        let mut batch = vec![first];
        let mut rows = batch[0].requests.len();
        while rows < max_batch {
            match work.try_recv() {
                Ok(w) => {
                    rows += w.requests.len();
                    batch.push(w);
                }
                Err(_) => break,
            }
        }
        let all: Vec<GenerationRequest> = batch
            .iter()
            .flat_map(|w| w.requests.iter().cloned())
            .collect();
        let starts = batch
            .iter()
            .scan(0, |next, w| {
                let s = *next;
                *next += w.requests.len();
                Some(s)
            })
            .collect();
        let fanout = Fanout {
            batch: &batch,
            starts,
        };
        match generator.generate_streaming(&all, &fanout) {
            Ok(generations) => {
                let mut it = generations.into_iter();
                for w in &batch {
                    let mine: Vec<Generation> = it.by_ref().take(w.requests.len()).collect();
                    if let Reply::Whole(tx) = &w.reply {
                        let prompts = match w.score_prompts {
                            Some(top) => score_prompts(&generator, &w.requests, top),
                            None => Ok(Vec::new()),
                        };
                        let answered = prompts.map(|prompts| Answered {
                            generations: mine,
                            prompts,
                        });
                        let _ = tx.send(answered.map_err(|e| e.to_string()));
                    }
                }
            }
            Err(e) => {
                for w in &batch {
                    let _ = match &w.reply {
                        Reply::Whole(tx) => tx.send(Err(e.to_string())).is_ok(),
                        Reply::Stream(tx) => tx.send(Event::Failed(e.to_string())).is_ok(),
                    };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ouro_model::SamplingParams;

    #[test]
    fn a_batch_of_several_requests_streams_each_its_own_choices() {
        let work = |rows: usize, reply| Work {
            requests: vec![GenerationRequest::new("p", SamplingParams::default()); rows],
            score_prompts: None,
            reply,
        };
        let (whole, _whole_rx) = mpsc::channel();
        let (a, a_rx) = mpsc::channel();
        let (b, b_rx) = mpsc::channel();
        let batch = vec![
            work(2, Reply::Stream(a)),
            work(3, Reply::Whole(whole)),
            work(2, Reply::Stream(b)),
        ];
        let fanout = Fanout {
            batch: &batch,
            starts: vec![0, 2, 5],
        };
        let t = |id| TokenLogprob {
            id,
            logprob: -1.0,
            top: vec![],
        };
        for r in 0..7 {
            fanout.token(r, &t(r as u32));
        }
        let got = |rx: &mpsc::Receiver<Event>| -> Vec<(usize, u32)> {
            rx.try_iter()
                .map(|e| match e {
                    Event::Token(i, t) => (i, t.id),
                    _ => panic!("only tokens were sent"),
                })
                .collect()
        };
        assert_eq!(got(&a_rx), vec![(0, 0), (1, 1)]);
        assert_eq!(
            got(&b_rx),
            vec![(0, 5), (1, 6)],
            "rows 5 and 6 are b's choices 0 and 1"
        );
    }
}
