# Per-run streams (DESIGN.md §3, "Randomness"): a handler seeded with s (an int
# or a SeedSequence; None: a SeedSequence of fresh entropy made once) gives the
# run with key k the stream of numpy.random.default_rng([s, k]) (a
# SeedSequence: k appended to its spawn key), derived in C++ (StreamSource)
# with no Python object and no lock; k is the run's seed= when given, else the
# handler's run counter. A Generator of the caller's is the stream itself
# (_Sampling takes numpy's lock for each run). After fork, the child's
# counter-keyed streams continue from a fresh spawn key, and the locks of
# Generators held by runs of threads that did not survive are released.

cdef object _SeedSequence = np.random.SeedSequence
cdef object _GeneratorType = np.random.Generator
cdef object _BitGeneratorType = np.random.BitGenerator
cdef object _DECIMAL = re.compile(r"[0-9]+")
cdef str _RNG_TYPES = "None, an int seed, a numpy.random.SeedSequence or a numpy.random.Generator"


cdef list _int_words(object n):
    # numpy's coercion of a non-negative int: uint32 words, lowest first (0 is [0]).
    cdef list words = []
    if n == 0:
        return [0]
    while n > 0:
        words.append(n & 0xFFFFFFFF)
        n >>= 32
    return words


cdef list _coerce_words(object x):
    # numpy's _coerce_to_uint32_array (bit_generator.pyx), as a list: a uint32
    # array as it is, a non-negative int (or a "0x..." / decimal string) as
    # its words, a sequence as the concatenation of its elements' words.
    if isinstance(x, np.ndarray) and x.dtype == np.uint32:
        return [int(v) for v in x.ravel()]
    if isinstance(x, str):
        if x.startswith("0x"):
            x = int(x, base=16)
        elif _DECIMAL.match(x):
            x = int(x)
        else:
            raise ValueError("unrecognized seed string")
    if isinstance(x, (int, np.integer)):
        if x < 0:
            raise ValueError("expected non-negative integer")
        return _int_words(int(x))
    if isinstance(x, (float, np.inexact)):
        raise TypeError("seed must be integer")
    cdef list words = []
    for v in x:
        words.extend(_coerce_words(v))
    return words


cdef tuple _stream_base(object rng, str owner):
    # (seed, entropy words, spawn key words, pool size, key place) of the
    # streams of a handler given `rng`; None for a Generator or a BitGenerator
    # (the stream itself).
    if rng is None:
        rng = _SeedSequence()
    elif isinstance(rng, (_GeneratorType, _BitGeneratorType)):
        return None
    if isinstance(rng, (bool, np.bool_)):
        raise type_error(owner, "rng", rng, _RNG_TYPES)
    if isinstance(rng, (int, np.integer)):
        if rng < 0:
            raise invalid(owner, "rng", rng, "must be >= 0 (a seed)")
        rng = int(rng)
        return (rng, _int_words(rng), [], 4, KeyPlace.Entropy)
    if isinstance(rng, _SeedSequence):
        return (rng, _coerce_words(rng.entropy), _coerce_words(rng.spawn_key),
                rng.pool_size, KeyPlace.SpawnKey)
    raise type_error(owner, "rng", rng, _RNG_TYPES)


cdef object check_seed(Handler handler, object seed, str owner):
    if type(seed) is not int:
        if isinstance(seed, (bool, np.bool_, float, np.floating)):
            raise type_error(owner, "seed", seed, "an int >= 0 (a run key)")
        try:
            seed = operator.index(seed)
        except TypeError:
            raise type_error(owner, "seed", seed, "an int >= 0 (a run key)") from None
    if seed < 0:
        raise invalid(owner, "seed", seed, "must be >= 0")
    if handler._spec.streams == NULL and handler._spec.bg != NULL:
        raise invalid(owner, "seed", seed,
                      "cannot be honoured by a handler drawing from a numpy Generator (its runs "
                      "share that one stream; seed the handler with an int or a SeedSequence)")
    return seed


cdef extern from "Python.h":
    # Unchecked: the caller tests PyErr_Occurred itself.
    unsigned long long _as_uint64_unchecked "PyLong_AsUnsignedLongLong"(object) noexcept


cdef int _seed_stream(CStreamSource* source, CPcg64& stream, object key) except -1:
    # Seeds `stream` with the stream of `key` (an int >= 0, from check_seed).
    cdef unsigned long long k = _as_uint64_unchecked(key)
    cdef vector[uint32_t] words
    cdef CWords view
    if k == <unsigned long long>-1 and PyErr_Occurred() != NULL:
        PyErr_Clear()   # beyond 64 bits: its words (this builds Python ints)
        for w in _int_words(key):
            words.push_back(<uint32_t>w)
        view.data = words.data()
        view.size = words.size()
        source.seed_keyed(stream, view)
    else:
        source.seed_keyed(stream, <uint64_t>k)
    return 0


cdef bint _holds(CRun* r, bitgen_t* bg) noexcept:
    # Whether `r` or a run enclosing it draws from `bg` (and holds its lock).
    while r != NULL:
        if r.bg == bg:
            return True
        r = r.outer
    return False


# ---------------------------------------------------------------- fork

# The handlers drawing from a caller's Generator (numpy's lock is theirs for
# the length of a run).
cdef object _generator_handlers = weakref.WeakSet()


def _after_fork_in_child():
    # In the child, before it starts threads: counter-keyed streams continue
    # from a fresh spawn key (the highest word non-zero, so that numpy coerces
    # it to 4 words too), and the lock of each Generator held by a run of a
    # thread that did not survive the fork is released (the forking thread's
    # own runs end normally and release theirs).
    cdef uint32_t key[4]
    cdef int i
    fresh = os.urandom(16)
    for i in range(4):
        key[i] = int.from_bytes(fresh[4 * i:4 * i + 4], "little")
    key[3] |= 0x80000000
    set_fork_key(key)
    cdef CRun* mine = current_run()
    for h in list(_generator_handlers):
        if _holds(mine, (<_Sampling>h)._spec.bg):
            continue        # this thread's own run holds it
        lock = (<_Sampling>h)._gen.bit_generator.lock
        # (numpy's lock is a Lock or an RLock, depending on the release)
        if lock.acquire(False):
            lock.release()
        else:               # held by a thread that is gone
            lock._at_fork_reinit()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
