#!/usr/bin/env bash
# The quickstart's recipe variants, each over the same seed pairs ([problems] seed =
# [model] seed = S), compared with the quickstart as it ships on every pair:
#   plain  pipelines/quickstart.toml as it is (the control of the other arms)
#   dart   + DART's selection and resampling: keep_per_problem = 4, selection = "prop2diff",
#          resample_passes = 2, max_samples = 24
#   dpo    + a DPO step after each round's SFT: datasets = ["sft", "dpo"], [iterate.dpo]
#          beta = 0.1, lr = 1e-4, one epoch
#   dpo-correct  the same DPO step on correctness pairs only (pair_kinds = ["correctness"])
#   dpo-rpo      dpo-correct plus an NLL term on chosen programs (rpo_alpha = 1.0, as
#                iterative RPO, Pang et al. 2024)
#   dpo-lr       dpo-correct at a tenth of the learning rate (lr = 1e-5)
#   dpo-rpo-all  dpo with the NLL term (rpo_alpha = 1.0) on all four pair kinds
#   dpo-beta     dpo-correct with five times the KL weight (beta = 0.5)
#   plain-2x     plain with twice samples_per_problem (16): the samples control of dart
#
#   scripts/bench-arms.sh                      plain, dart and dpo on seed pairs 1,2,3
#   scripts/bench-arms.sh "plain dpo" 4,5      other arms or pairs
#
# Every member is an ordinary resumable run, runs/ARM-seeds/seed-S/ (config beside it as
# seed-S.toml); rerunning resumes, so a finished sweep only prints its table again. It
# prints strict held-out pass@1 per round and arm (mean ± sample sd over the pairs), each
# arm's gain over plain on the same pair, its last-round false-positive rate, the share
# of its last round's SFT rows (and DPO chosen programs) the audit tests reject, and the
# samples it drew per round. On the 2-core development machine one member takes 6-24 min.
set -euo pipefail
cd "$(dirname "$0")/.."
arms="${1:-plain dart dpo}"
seeds="${2:-1,2,3}"
ouro="${OURO:-target/release/ouro}"
if [ -z "${OURO:-}" ]; then
  cargo build --release -q -p ouro-cli
fi
case " $arms " in *" plain "*) ;; *) arms="plain $arms" ;; esac
for arm in $arms; do
  dir="runs/$arm-seeds"
  mkdir -p "$dir"
  for s in ${seeds//,/ }; do
    toml="$dir/seed-$s.toml"
    sed -e "s#^out = .*#out = \"$dir/seed-$s\"#" -e "s/^seed = 0/seed = $s/" \
      pipelines/quickstart.toml >"$toml"
    case "$arm" in
      plain) ;;
      dart)
        sed -i 's/^keep_per_problem = 2/keep_per_problem = 4\nselection = "prop2diff"\nresample_passes = 2\nmax_samples = 24/' "$toml"
        ;;
      plain-2x)
        sed -i 's/^samples_per_problem = 8$/samples_per_problem = 16/' "$toml"
        ;;
      dpo | dpo-correct | dpo-rpo | dpo-lr | dpo-rpo-all | dpo-beta)
        sed -i 's/^seed_fraction = 0.5 .*/&\ndatasets = ["sft", "dpo"]/' "$toml"
        if [ "$arm" != dpo ] && [ "$arm" != dpo-rpo-all ]; then
          sed -i 's/^datasets = \["sft", "dpo"\]/&\npair_kinds = ["correctness"]/' "$toml"
        fi
        rpo="" lr=1e-4 beta=0.1
        case "$arm" in dpo-rpo | dpo-rpo-all) rpo='rpo_alpha = 1.0\n' ;; esac
        [ "$arm" = dpo-lr ] && lr=1e-5
        [ "$arm" = dpo-beta ] && beta=0.5
        printf "\n[iterate.dpo]\nbeta = $beta\n${rpo}[iterate.dpo.optim]\nlr = $lr\nepochs = 1.0\n" >>"$toml"
        ;;
      *) echo "unknown arm '$arm' (plain, plain-2x, dart, dpo, dpo-correct, dpo-rpo, dpo-lr, dpo-rpo-all, dpo-beta)" >&2; exit 2 ;;
    esac
    start=$(date +%s)
    "$ouro" run "$toml" --resume --no-progress -q >/dev/null
    echo "$arm seed $s: $(( $(date +%s) - start )) s" >&2
  done
done
# Samples drawn per round (every batch of a round, resampling included).
counts=""
for arm in $arms; do
  for s in ${seeds//,/ }; do
    for r in 1 2 3; do
      d="runs/$arm-seeds/seed-$s/round-0$r/all/samples"
      [ -d "$d" ] || d="runs/$arm-seeds/seed-$s/round-0$r/samples"
      n=$("$ouro" stats --json "$d" | python3 -c 'import json,sys; print(json.load(sys.stdin)["datasets"][0][2])')
      counts="$counts $arm:$s:$r:$n"
    done
  done
done
python3 - "$arms" "$seeds" "$counts" <<'PY'
import json, statistics as st, sys
arms, seeds = sys.argv[1].split(), [int(s) for s in sys.argv[2].split(",") if s]
drawn = {}
for c in sys.argv[3].split():
    arm, s, r, n = c.split(":")
    drawn[(arm, int(s), int(r))] = int(n)
def rounds(arm, s):
    return json.load(open(f"runs/{arm}-seeds/seed-{s}/report.json"))["rounds"]
def ms(xs, nd=1):
    return f"{st.mean(xs):.{nd}f} ± {st.stdev(xs):.{nd}f}" if len(xs) > 1 else f"{xs[0]:.{nd}f}"
p1 = {(a, s): [100 * r["pass_at_1"] for r in rounds(a, s)] for a in arms for s in seeds}
print(f"seed pairs {seeds}; strict held-out pass@1 (%), mean ± sd")
print("round  " + "  ".join(f"{a:>13}" for a in arms) + "  " + "  ".join(f"{a + ' - plain':>15}" for a in arms if a != "plain"))
for k in range(len(p1[(arms[0], seeds[0])])):
    cells = [ms([p1[(a, s)][k] for s in seeds]) for a in arms]
    gains = [ms([p1[(a, s)][k] - p1[("plain", s)][k] for s in seeds]) for a in arms if a != "plain"]
    print(f"{k:>5}  " + "  ".join(f"{c:>13}" for c in cells) + "  " + "  ".join(f"{g:>15}" for g in gains))
for a in arms:
    per = ", ".join(f"{s}: " + " → ".join(f"{x:.1f}" for x in p1[(a, s)]) for s in seeds)
    fp = [100 * (rounds(a, s)[-1]["false_positive_rate"] or 0) for s in seeds]
    n = [ms([drawn[(a, s, r)] for s in seeds], 0) for r in (1, 2, 3)]
    # What the last round trained on that the audit tests reject (runs from
    # before the audits have neither key).
    last = [rounds(a, s)[-1] for s in seeds]
    audits = ""
    for key, name in (("train_false_positive_rate", "train FP"), ("dpo_chosen_false_positive_rate", "DPO chosen FP")):
        xs = [100 * r[key] for r in last if r.get(key) is not None]
        if xs:
            audits += f"; last-round {name} {ms(xs)}%"
    print(f"{a}: {per}; last-round FP rate {ms(fp)}%{audits}; samples drawn per round {', '.join(n)}")
PY
