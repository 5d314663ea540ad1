//! What an official harness puts around every program of its problem set,
//! keyed by [`Problem::source`](ouro_data::Problem): judging an imported set
//! the way its own harness does is what makes a verdict comparable.

/// hendrycks/apps `eval/testing_util.py` prepends these lines to every
/// program, call-based and stdin alike, so APPS solutions (and the starter
/// code's `List[int]` signatures) use `sqrt`, `Counter` or `heapq` unimported.
const APPS: &str = "import sys
import time
import itertools
from itertools import accumulate, product, permutations, combinations
import collections
from collections import Counter, OrderedDict, deque, defaultdict, ChainMap
from functools import lru_cache
import math
from math import sqrt, sin, cos, tan, ceil, fabs, floor, gcd, exp, log, log2
import fractions
from typing import List, Tuple
import numpy as np
import random
import heapq
from heapq import *
";

/// Each source's header; the executor version hashes them all, since what
/// runs before a program decides its verdict as much as the harness does.
pub(crate) const HEADERS: &[(&str, &str)] = &[("apps", APPS)];

/// The statements run before a program of `source`, one per line; the
/// harness skips a line whose import fails (numpy where it is not installed),
/// where the official header would fail every program.
pub fn header(source: &str) -> &'static str {
    HEADERS
        .iter()
        .find(|(s, _)| *s == source)
        .map_or("", |(_, h)| h)
}
