//! The one thread that owns the checkpoint. Its rows decode in one [`DecodeSession`]
//! that requests join between decode steps (continuous batching), up to `max_batch`
//! rows; each request gets its share, whole or token by token. Prompts to score (echo
//! with log-probs) are scored, and newcomers' prompts prefilled, a bounded chunk at a
//! time between those steps, so neither a large scoring request nor a long prompt
//! stalls the rows in flight.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use anyhow::anyhow;
use ouro_model::chat::{PromptFormat, PromptRenderer};
use ouro_model::{
    checkpoint, DecodeSession, Generation, GenerationRequest, Generator, Prompt, ScoredPrompt,
    TokenLogprob, TokenSink,
};
use tokenizers::Tokenizer;

use super::reply::Event;

/// What the request threads need of the loaded checkpoint.
pub(super) struct Loaded {
    pub(super) chat: PromptRenderer,
    pub(super) tokenizer: Tokenizer,
    /// The model's vocabulary size (token-id prompts must stay below it).
    pub(super) vocab: usize,
    /// The model's context (`max_position_embeddings`): prompt plus completion fit in it.
    pub(super) context: usize,
}

/// How the model thread shares its turns.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    /// Most rows decoded together.
    pub(super) max_batch: usize,
    /// Most prompt tokens run between two decode steps: scored (at least one prompt),
    /// and prefilled for the rows joining.
    pub(super) chunk_tokens: usize,
}

/// Generation work for the model thread, and where to send the result.
pub(super) struct Work {
    pub(super) requests: Vec<GenerationRequest>,
    /// `Some(k)`: also score each request's prompt, `k` alternatives per token (echo
    /// with log-probs). A request's prompts are scored before its rows decode, so a
    /// stream gets each choice's scored prompt before its first token.
    pub(super) score_prompts: Option<usize>,
    pub(super) reply: Reply,
}

/// A whole reply: the generations, and each request's scored prompt when asked for.
pub(super) struct Answered {
    pub(super) generations: Vec<Generation>,
    pub(super) prompts: Vec<ScoredPrompt>,
}

/// A request's prompts on their way to being scored: the distinct ones as token ids
/// (the `n` completions of a prompt, one after another, share one score), and which of
/// them each request's row has.
struct Scoring {
    top: usize,
    distinct: Vec<Vec<u32>>,
    which: Vec<usize>,
    scored: Vec<ScoredPrompt>,
    /// Every request samples one token (lm-evaluation-harness's `max_tokens: 1`): from
    /// the logits its prompt's scoring forward ends with, instead of from a prefill that
    /// runs the same prompt through the model again.
    one_token: bool,
}

impl Scoring {
    fn new(
        generator: &Generator,
        requests: &[GenerationRequest],
        top: usize,
    ) -> ouro_model::Result<Self> {
        let mut distinct: Vec<Vec<u32>> = Vec::new();
        let mut which = Vec::with_capacity(requests.len());
        let mut last: Option<&Prompt> = None;
        for r in requests {
            if last != Some(&r.prompt) {
                // Tokenized once here, so chunks are cut by their real token counts.
                distinct.push(generator.prompt_ids(&r.prompt)?);
                last = Some(&r.prompt);
            }
            which.push(distinct.len() - 1);
        }
        Ok(Scoring {
            top,
            distinct,
            which,
            scored: Vec::new(),
            one_token: requests.iter().all(|r| r.params.max_tokens == 1),
        })
    }

    /// Scores the next prompts, up to `budget` tokens (at least one prompt); for
    /// one-token requests, returns the logits after each of them.
    fn advance(
        &mut self,
        generator: &Generator,
        budget: usize,
    ) -> ouro_model::Result<Vec<Vec<f32>>> {
        let start = self.scored.len();
        let mut end = start;
        let mut tokens = 0;
        while let Some(ids) = self.distinct.get(end) {
            if end > start && tokens + ids.len() > budget {
                break;
            }
            tokens += ids.len();
            end += 1;
        }
        let prompts: Vec<Prompt> = self.distinct[start..end]
            .iter()
            .cloned()
            .map(Prompt::Ids)
            .collect();
        if !self.one_token {
            self.scored
                .extend(generator.prompts_logprobs(&prompts, self.top)?);
            return Ok(Vec::new());
        }
        let mut next = Vec::with_capacity(prompts.len());
        for (scored, logits) in generator.prompts_logprobs_and_next(&prompts, self.top)? {
            self.scored.push(scored);
            next.push(logits);
        }
        Ok(next)
    }

    /// Each request's scored prompt, in request order.
    fn per_request(&self) -> Vec<ScoredPrompt> {
        self.which.iter().map(|&i| self.scored[i].clone()).collect()
    }
}

pub(super) enum Reply {
    /// Everything at once, when all its choices are done. The flag is set by the
    /// request's thread when its client went away before the answer.
    Whole(mpsc::Sender<Result<Answered, String>>, Arc<AtomicBool>),
    /// Every token as it is sampled, and each choice as it finishes.
    Stream(mpsc::Sender<Event>),
}

/// A request in flight: its choices' generations as they finish.
struct InFlight {
    work: Work,
    done: Vec<Option<Generation>>,
    /// Its prompts' scores, when asked for (complete before its rows queue).
    scoring: Option<Scoring>,
}

/// Which request and which of its choices each session row (by key) decodes.
type Rows = HashMap<usize, (u64, usize)>;

/// Sends the session's progress to the streaming requests among its rows.
struct Fanout<'a> {
    works: &'a HashMap<u64, InFlight>,
    rows: &'a Rows,
    gone: &'a Mutex<HashSet<u64>>,
}

impl Fanout<'_> {
    fn send(&self, key: usize, event: impl FnOnce(usize) -> Event) {
        let Some(&(id, choice)) = self.rows.get(&key) else {
            return;
        };
        if let Some(Reply::Stream(tx)) = self.works.get(&id).map(|w| &w.work.reply) {
            if tx.send(event(choice)).is_err() {
                // The client went away (its stream stopped listening): its rows stop.
                self.gone.lock().expect("not poisoned").insert(id);
            }
        }
    }
}

impl TokenSink for Fanout<'_> {
    fn token(&self, key: usize, token: &TokenLogprob) {
        self.send(key, |i| Event::Token(i, token.clone()));
    }
    fn finished(&self, key: usize, generation: &Generation) {
        self.send(key, |i| Event::Finished(i, generation.clone()));
    }
}

/// Every request the model thread holds: queued choices, rows in the session, and
/// what finished.
#[derive(Default)]
struct Book {
    works: HashMap<u64, InFlight>,
    rows: Rows,
    /// Choices waiting for a row, oldest first.
    queue: VecDeque<(u64, usize)>,
    /// Requests whose prompts are scored before their rows queue, oldest first.
    to_score: VecDeque<u64>,
    next_work: u64,
    next_key: usize,
    /// Streaming requests whose client went away, found as the session sends to them.
    gone: Mutex<HashSet<u64>>,
}

impl Book {
    /// The sink that routes the session's events to the streaming requests.
    fn fanout(&self) -> Fanout<'_> {
        Fanout {
            works: &self.works,
            rows: &self.rows,
            gone: &self.gone,
        }
    }

    /// Drops the requests whose client went away (a stream that stopped listening, a
    /// whole reply marked abandoned); returns their rows' keys, for the session to
    /// cancel, so an abandoned request does not hold batch rows until its `max_tokens`.
    fn drop_gone(&mut self) -> HashSet<usize> {
        let mut gone = std::mem::take(self.gone.get_mut().expect("not poisoned"));
        gone.extend(
            self.works
                .iter()
                .filter_map(|(&id, w)| match &w.work.reply {
                    Reply::Whole(_, abandoned) if abandoned.load(Ordering::Relaxed) => Some(id),
                    _ => None,
                }),
        );
        let keys: HashSet<usize> = self
            .rows
            .iter()
            .filter(|(_, r)| gone.contains(&r.0))
            .map(|(&k, _)| k)
            .collect();
        if gone.is_empty() {
            return keys;
        }
        tracing::debug!(
            "{} request(s) gone: {} row(s) stopped",
            gone.len(),
            keys.len()
        );
        for id in gone {
            self.forget(id);
        }
        keys
    }

    /// Removes a request wherever it is: scoring, queued or decoding.
    fn forget(&mut self, id: u64) -> Option<InFlight> {
        self.rows.retain(|_, r| r.0 != id);
        self.queue.retain(|q| q.0 != id);
        self.to_score.retain(|&q| q != id);
        self.works.remove(&id)
    }

    fn add(&mut self, work: Work) {
        let id = self.next_work;
        self.next_work += 1;
        let n = work.requests.len();
        if n == 0 {
            // Nothing to decode (the request checks make this unreachable): answer now
            // rather than hold a reply no row will ever complete.
            match &work.reply {
                Reply::Whole(tx, _) => drop(tx.send(Ok(Answered {
                    generations: Vec::new(),
                    prompts: Vec::new(),
                }))),
                Reply::Stream(tx) => drop(tx.send(Event::Failed("no prompts".into()))),
            }
            return;
        }
        if work.score_prompts.is_some() {
            self.to_score.push_back(id);
        } else {
            self.queue.extend((0..n).map(|c| (id, c)));
        }
        self.works.insert(
            id,
            InFlight {
                work,
                done: vec![None; n],
                scoring: None,
            },
        );
    }

    /// Scores the oldest scoring request's next prompts, up to `budget` tokens. A stream
    /// gets each choice's scored prompt as soon as it is scored; one-token choices are
    /// sampled then too (their logits are not kept), and the other requests' rows queue
    /// once their last prompt is scored.
    fn score_turn(&mut self, generator: &Generator, budget: usize) {
        let Some(&id) = self.to_score.front() else {
            return;
        };
        let Some(w) = self.works.get_mut(&id) else {
            self.to_score.pop_front();
            return;
        };
        let top = w.work.score_prompts.unwrap_or(0);
        let scoring = match w.scoring.take() {
            Some(s) => Ok(s),
            None => Scoring::new(generator, &w.work.requests, top),
        };
        let advanced = scoring.and_then(|mut s| {
            let start = s.scored.len();
            let next = s.advance(generator, budget)?;
            Ok((s, start, next))
        });
        let (s, start, next) = match advanced {
            Ok(a) => a,
            Err(e) => return self.fail_requests(vec![id], &e.to_string()),
        };
        let fresh: Vec<usize> = (0..s.which.len())
            .filter(|&c| (start..s.scored.len()).contains(&s.which[c]))
            .collect();
        if let Reply::Stream(tx) = &w.work.reply {
            let sent = fresh.iter().all(|&c| {
                tx.send(Event::Prompt(c, s.scored[s.which[c]].clone()))
                    .is_ok()
            });
            if !sent {
                self.gone.get_mut().expect("not poisoned").insert(id);
            }
        }
        let complete = s.scored.len() == s.distinct.len();
        let one_token = s.one_token;
        w.scoring = Some(s);
        if complete {
            self.to_score.pop_front();
        }
        if one_token {
            self.sample_scored(generator, id, &fresh, (start, next));
        } else if complete {
            let n = w.work.requests.len();
            self.queue.extend((0..n).map(|c| (id, c)));
        }
    }

    /// Samples the one token of `choices`, whose prompts (from the `start`th distinct
    /// one) were just scored, from the logits after them (`next`), as a session would
    /// after a prefill, and finishes them.
    fn sample_scored(
        &mut self,
        generator: &Generator,
        id: u64,
        choices: &[usize],
        (start, next): (usize, Vec<Vec<f32>>),
    ) {
        let rows = self.keyed(choices.iter().map(|&c| (id, c)).collect());
        let s = self.works[&id].scoring.as_ref().expect("scoring");
        let sink = self.fanout();
        let sampled: ouro_model::Result<Vec<(usize, Generation)>> = rows
            .into_iter()
            .zip(choices)
            .map(|((key, request), &c)| {
                let prompt = s.which[c];
                let ids = &s.scored[prompt].0;
                let g =
                    generator.sample_first((key, request), ids, &next[prompt - start], &sink)?;
                Ok((key, g))
            })
            .collect();
        match sampled {
            Ok(done) => self.finish(done),
            Err(e) => self.fail_requests(vec![id], &e.to_string()),
        }
    }

    /// Up to `room` queued choices, each with a fresh session key.
    fn next_rows(&mut self, room: usize) -> Vec<(usize, GenerationRequest)> {
        let n = room.min(self.queue.len());
        let taken: Vec<(u64, usize)> = self.queue.drain(..n).collect();
        self.keyed(taken)
    }

    /// `choices` (request id, choice), each with a fresh session key.
    fn keyed(&mut self, choices: Vec<(u64, usize)>) -> Vec<(usize, GenerationRequest)> {
        choices
            .into_iter()
            .map(|(id, choice)| {
                let key = self.next_key;
                self.next_key += 1;
                self.rows.insert(key, (id, choice));
                (key, self.works[&id].work.requests[choice].clone())
            })
            .collect()
    }

    /// Records finished rows; a request whose choices are all done gets its whole
    /// reply (streams already got every event through the sink).
    fn finish(&mut self, done: Vec<(usize, Generation)>) {
        for (key, g) in done {
            let Some((id, choice)) = self.rows.remove(&key) else {
                continue;
            };
            let Some(w) = self.works.get_mut(&id) else {
                continue;
            };
            w.done[choice] = Some(g);
            if w.done.iter().any(Option::is_none) {
                continue;
            }
            let w = self.works.remove(&id).expect("present above");
            if let Reply::Whole(tx, _) = &w.work.reply {
                let _ = tx.send(Ok(Answered {
                    generations: w.done.into_iter().map(|g| g.expect("done")).collect(),
                    prompts: w.scoring.map_or_else(Vec::new, |s| s.per_request()),
                }));
            }
        }
    }

    /// Fails the requests that own `keys` (rows that will never finish), and drops them.
    fn fail(&mut self, keys: &[usize], error: &str) {
        let ids = keys
            .iter()
            .filter_map(|k| self.rows.get(k))
            .map(|r| r.0)
            .collect();
        self.fail_requests(ids, error);
    }

    /// Fails requests by id, wherever they are: scoring, queued or decoding.
    fn fail_requests(&mut self, mut ids: Vec<u64>, error: &str) {
        ids.sort_unstable();
        ids.dedup();
        for id in ids {
            if let Some(w) = self.forget(id) {
                let _ = match &w.work.reply {
                    Reply::Whole(tx, _) => tx.send(Err(error.to_string())).is_ok(),
                    Reply::Stream(tx) => tx.send(Event::Failed(error.to_string())).is_ok(),
                };
            }
        }
    }
}

pub(super) fn model_thread(
    dir: PathBuf,
    limits: Limits,
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
        context: ck.decoder.config().max_position_embeddings,
    }));
    let max_batch = limits.max_batch;
    let generator = Generator::for_checkpoint(&ck, tok).with_max_batch(max_batch);
    let new_session = || {
        DecodeSession::new(&generator)
            .continuous()
            .chunked_prefill(limits.chunk_tokens)
    };
    let mut session = new_session();
    let mut book = Book::default();
    loop {
        // Wait only when there is nothing to decode; otherwise take what has arrived and
        // go on decoding.
        if session.is_empty() && book.queue.is_empty() && book.to_score.is_empty() {
            match work.recv() {
                Ok(w) => book.add(w),
                Err(_) => return,
            }
        }
        while let Ok(w) = work.try_recv() {
            book.add(w);
        }
        book.score_turn(&generator, limits.chunk_tokens);
        let joining = book.next_rows(max_batch.saturating_sub(session.len()));
        if !joining.is_empty() {
            let keys: Vec<usize> = joining.iter().map(|r| r.0).collect();
            let admitted = session.admit(joining, &book.fanout());
            match admitted {
                Ok(done) => book.finish(done),
                // Nothing was added: only the newcomers fail.
                Err(e) => book.fail(&keys, &e.to_string()),
            }
        }
        session.cancel(&book.drop_gone());
        if session.is_empty() {
            continue;
        }
        let stepped = session.step(&book.fanout());
        match stepped {
            Ok(done) => book.finish(done),
            // Only the newcomers whose prefill failed are lost; the session goes on.
            Err(ouro_model::ModelError::Prefill { keys, source }) => {
                book.fail(&keys, &source.to_string())
            }
            Err(e) => {
                let keys: Vec<usize> = book.rows.keys().copied().collect();
                book.fail(&keys, &e.to_string());
                session = new_session();
            }
        }
        session.cancel(&book.drop_gone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ouro_model::SamplingParams;

    #[test]
    fn rows_of_several_requests_stream_each_its_own_choices() {
        let work = |rows: usize, reply| Work {
            requests: vec![GenerationRequest::new("p", SamplingParams::default()); rows],
            score_prompts: None,
            reply,
        };
        let (whole, _whole_rx) = mpsc::channel();
        let whole_gone = Arc::new(AtomicBool::new(false));
        let (a, a_rx) = mpsc::channel();
        let (b, b_rx) = mpsc::channel();
        let mut book = Book::default();
        book.add(work(2, Reply::Stream(a)));
        book.add(work(3, Reply::Whole(whole, Arc::clone(&whole_gone))));
        book.add(work(2, Reply::Stream(b)));
        // Five rows join now, two later: keys 0..7 in queue order.
        let mut keys: Vec<usize> = book.next_rows(5).into_iter().map(|r| r.0).collect();
        assert_eq!(book.queue.len(), 2);
        keys.extend(book.next_rows(8).into_iter().map(|r| r.0));
        assert_eq!(keys, (0..7).collect::<Vec<_>>());
        let fanout = book.fanout();
        let t = |id| TokenLogprob {
            id,
            logprob: -1.0,
            top: vec![],
        };
        for k in [6, 0, 5, 1] {
            fanout.token(k, &t(k as u32));
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
            vec![(1, 6), (0, 5)],
            "rows 5 and 6 are b's choices 0 and 1"
        );
        // A failure reaches the streams of the rows named, and only theirs.
        book.fail(&[5], "boom");
        assert!(matches!(b_rx.try_recv(), Ok(Event::Failed(m)) if m == "boom"));
        assert!(a_rx.try_recv().is_err());
        assert_eq!(book.works.len(), 2);
        assert!(!book.rows.contains_key(&6), "b's other row is dropped too");
        // A stream whose client went away is found at the next send, and its rows
        // (decoding or queued) are returned for the session to cancel.
        let (c, c_rx) = mpsc::channel();
        book.add(work(3, Reply::Stream(c)));
        let c_keys: Vec<usize> = book.next_rows(2).into_iter().map(|r| r.0).collect();
        assert_eq!((c_keys, book.queue.len()), (vec![7, 8], 1));
        assert!(book.drop_gone().is_empty(), "nothing has gone yet");
        drop(c_rx);
        book.fanout().token(8, &t(8));
        book.fanout().token(0, &t(0));
        assert_eq!(book.drop_gone(), HashSet::from([7, 8]));
        assert!(book.queue.is_empty() && !book.rows.contains_key(&7));
        assert_eq!(book.works.len(), 2, "a's and the whole request remain");
        assert_eq!(got(&a_rx), vec![(0, 0)]);
        // A whole reply whose client went away is marked by its thread, and dropped.
        let whole_keys: HashSet<usize> = book
            .rows
            .iter()
            .filter(|(_, r)| {
                book.works
                    .get(&r.0)
                    .is_some_and(|w| matches!(w.work.reply, Reply::Whole(..)))
            })
            .map(|(&k, _)| k)
            .collect();
        assert!(!whole_keys.is_empty());
        whole_gone.store(true, Ordering::Relaxed);
        assert_eq!(book.drop_gone(), whole_keys);
        assert_eq!(book.works.len(), 1, "only a's request remains");
    }
}
