/*
 * gen.c - deterministic benchmark corpora for repfix.
 *
 * `gen KIND SIZE_MB [SEED]` writes at least SIZE_MB MiB (2^20 bytes) of
 * generated text to stdout and stops at the next block or record boundary
 * (`loop` stops at exactly SIZE_MB MiB, mid-copy, like a token limit).
 *
 *   clean      Markdown as a model writes it: prose from a grammar over a few
 *              hundred words, headings, lists, GFM tables (`---` separators,
 *              one space of padding), fenced code; 1-2 blank lines between
 *              blocks. Invariant: no repfix default fires on it -- no
 *              sentence follows an identical one, no run of 3 blank lines, no
 *              space run longer than code indentation, no literal `\n` runs.
 *   defective  the same with about every second block defective: separators
 *              of 100-800 hyphens, cells padded with 50-200 spaces, 5-50
 *              blank lines, 40-400 spaces inside a line, 5-80 literal `\n`
 *              escapes, a sentence looping 3-30 times, a word or short
 *              phrase looping 16-150 times, a paragraph looping 3-10 times.
 *   jsonl      one record a line: OpenAI chat completions (~85%) and Gemini
 *              GenerateContentResponse (~15%); the answer is 200-3000 bytes
 *              of the Markdown above, JSON-escaped; ~10% of answers carry
 *              defects, a third of those loop up to the length limit;
 *              ~30% are written as Python's json.dumps does (", " ": "
 *              separators, \uXXXX escapes), the rest compact, raw UTF-8.
 *   loop       a short intro, then one paragraph repeated to the end.
 *
 * Output depends only on KIND, SIZE_MB and SEED: the PRNG is xorshift64*
 * with a fixed seed per kind, and nothing reads the clock or environment.
 * Blocks are built in memory and written in 1 MiB chunks, so 1 GiB takes a
 * few seconds. C11, no dependencies.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- PRNG: xorshift64* (Vigna 2016), bounded by multiply-shift. ---- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static inline uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* Uniform in [0, n). */
static inline uint32_t below(uint32_t n)
{
    return (uint32_t)(((rnd() >> 32) * (uint64_t)n) >> 32);
}

/* Uniform in [lo, hi]. */
static inline uint32_t between(uint32_t lo, uint32_t hi)
{
    return lo + below(hi - lo + 1);
}

static inline int chance(uint32_t percent)
{
    return below(100) < percent;
}

/* ---- growable byte buffers ---- */

typedef struct {
    char *p;
    size_t len, cap;
} buf;

_Noreturn static void die(const char *msg)
{
    fprintf(stderr, "gen: %s\n", msg);
    exit(1);
}

static void buf_reserve(buf *b, size_t extra)
{
    if (b->len + extra <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p)
        die("out of memory");
    b->p = p;
    b->cap = cap;
}

static inline void put(buf *b, const char *s, size_t n)
{
    buf_reserve(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

/* Literals only ("" lit refuses a pointer); putstr() for the rest. */
#define PUTS(b, lit) put((b), "" lit, sizeof(lit) - 1)

static inline void putstr(buf *b, const char *s)
{
    put(b, s, strlen(s));
}

static inline void putch(buf *b, char c)
{
    buf_reserve(b, 1);
    b->p[b->len++] = c;
}

static inline void putrep(buf *b, char c, size_t n)
{
    buf_reserve(b, n);
    memset(b->p + b->len, c, n);
    b->len += n;
}

static void putnum(buf *b, uint64_t v)
{
    char tmp[24];
    int i = 0;
    do {
        tmp[i++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    buf_reserve(b, (size_t)i);
    while (i)
        b->p[b->len++] = tmp[--i];
}

static void upcase_at(buf *b, size_t pos)
{
    if (pos < b->len && b->p[pos] >= 'a' && b->p[pos] <= 'z')
        b->p[pos] = (char)(b->p[pos] - 'a' + 'A');
}

/* ---- vocabulary ---- */

typedef struct {
    const char *s;
    size_t n;
} word;

typedef struct {
    word *w;
    uint32_t count;
} wordlist;

static const char *const NOUNS[] = {
    "system", "request", "response", "server", "client", "user", "process",
    "thread", "buffer", "file", "table", "column", "record", "function",
    "method", "value", "parameter", "option", "setting", "configuration",
    "model", "token", "stream", "channel", "queue", "cache", "database",
    "query", "index", "key", "schema", "document", "page", "section",
    "paragraph", "sentence", "word", "character", "string", "number",
    "result", "error", "warning", "message", "event", "handler", "callback",
    "service", "endpoint", "network", "connection", "socket", "packet",
    "protocol", "layer", "module", "package", "library", "framework",
    "interface", "component", "feature", "test", "benchmark", "measurement",
    "metric", "report", "log", "output", "input", "pipeline", "step", "stage",
    "task", "job", "worker", "scheduler", "deadline", "budget", "team",
    "project", "product", "customer", "market", "price", "cost", "strategy",
    "plan", "goal", "problem", "solution", "approach", "decision", "question",
    "answer", "example", "pattern", "rule", "policy", "limit", "threshold",
    "boundary", "window", "region", "country", "city", "river", "mountain",
    "forest", "garden", "kitchen", "recipe", "ingredient", "teacher",
    "student", "lesson", "course", "chapter", "book", "author", "reader",
    "story", "history", "century", "language", "culture", "tradition",
    "experiment", "sample", "variable", "dataset", "graph", "node", "edge",
    "tree", "branch", "commit", "release", "version", "update", "migration",
    "backup", "snapshot", "volume", "disk", "memory", "processor", "core",
    "machine", "device", "sensor", "signal", "battery", "engine", "vehicle",
    "road", "bridge", "building", "contract", "invoice", "account",
    "password", "permission", "role", "session", "cookie", "header",
    "payload", "field", "array", "object", "element", "loop", "iteration",
    "parser", "compiler", "editor", "terminal", "shell", "script", "command",
    "flag", "argument", "path", "directory", "container", "image", "cluster",
    "instance", "deployment", "incident", "alert", "dashboard", "chart",
    "summary", "overview", "detail", "tradeoff", "advantage", "drawback",
    "risk", "issue", "bug", "fix", "patch", "review", "guideline", "standard",
    "specification", "requirement", "constraint", "estimate", "forecast",
    "trend", "season", "climate", "habit", "routine", "exercise", "diet",
    "meal", "journey", "map", "route", "ticket", "schedule", "café",
    "résumé", "workshop", "library card", "timeline", "prototype",
};

static const char *const ADJS[] = {
    "simple", "small", "large", "fast", "slow", "reliable", "robust",
    "efficient", "careful", "clear", "complex", "common", "critical",
    "current", "default", "different", "early", "easy", "entire", "exact",
    "existing", "external", "final", "flexible", "full", "general", "global",
    "hidden", "important", "initial", "internal", "late", "latest", "light",
    "local", "main", "manual", "minimal", "modern", "narrow", "native", "new",
    "old", "optional", "original", "overall", "partial", "popular",
    "practical", "previous", "primary", "private", "public", "quick", "rare",
    "raw", "real", "recent", "regular", "related", "remote", "safe", "secure",
    "separate", "serious", "shared", "short", "significant", "single",
    "specific", "stable", "static", "strict", "strong", "subtle", "sudden",
    "temporary", "typical", "unique", "useful", "valid", "various", "visible",
    "weak", "whole", "wide", "naïve", "bright", "quiet", "warm", "cold",
    "fresh", "historic", "rural", "urban", "seasonal", "healthy", "expensive",
    "cheap", "accurate", "consistent", "predictable", "noisy", "smooth",
    "incremental", "concurrent", "read-only", "well-known", "up-to-date",
};

static const char *const VERBS[] = {
    "use", "build", "create", "read", "write", "store", "send", "receive",
    "handle", "process", "check", "validate", "parse", "compute", "measure",
    "improve", "reduce", "increase", "support", "provide", "require",
    "include", "contain", "return", "replace", "remove", "add", "update",
    "change", "track", "monitor", "describe", "explain", "show", "define",
    "follow", "allow", "prevent", "avoid", "cause", "affect", "produce",
    "generate", "compare", "combine", "split", "merge", "load", "save", "open",
    "close", "start", "stop", "run", "test", "deploy", "configure", "install",
    "release", "review", "design", "plan", "manage", "organize", "reach",
    "keep", "hold", "move", "cover", "explore", "protect", "detect", "repair",
    "simplify", "extend", "limit", "balance", "schedule", "encode", "decode",
    "filter", "sort", "count", "match", "reflect", "capture", "record",
    "render", "display", "consume", "publish", "inspect", "document",
    "prepare", "deliver", "recommend", "prefer", "expect", "need", "ensure",
    "touch", "fetch", "push", "finish", "mix", "fix", "approach", "watch",
};

static const char *const ADVS[] = {
    "quickly", "carefully", "usually", "often", "rarely", "always", "never",
    "sometimes", "automatically", "manually", "efficiently", "reliably",
    "directly", "simply", "easily", "silently", "gradually", "immediately",
    "eventually", "clearly", "exactly", "typically", "mostly", "also",
    "already", "still", "safely", "correctly", "partly", "consistently",
};

static const char *const PREPS[] = {
    "in", "on", "at", "with", "without", "for", "from", "into", "through",
    "across", "after", "before", "during", "under", "over", "between",
    "behind", "near", "around", "beyond", "within", "along", "against",
    "toward", "inside", "by", "per", "like",
};

static const char *const OPENERS[] = {
    "In practice", "In most cases", "For example", "As a result", "However",
    "In addition", "At the same time", "On the other hand", "By default",
    "In this case", "Over time", "Fortunately", "Unfortunately", "In short",
    "For this reason", "Because of this", "Even so", "Historically",
    "In general", "First", "Next", "Finally", "Meanwhile", "Despite this",
    "To be clear", "Surprisingly", "In my experience", "As you can see",
    "Put simply", "Under load", "With that in mind", "Most of the time",
};

static const char *const MODALS[] = {
    "can", "should", "will", "might", "must", "may", "could", "would",
    "tends to", "needs to", "is able to", "is likely to", "has to",
};

static const char *const MODALS_P[] = {
    "can", "should", "will", "might", "must", "may", "could", "would",
    "tend to", "need to", "are able to", "are likely to", "have to",
};

static const char *const JOINS[] = {
    ", and ", ", but ", ", so ", ", while ", ", because ", ", although ",
    " — ", "; ", ", which means ", ", and then ", ", even though ",
};

static const char *const LEADS[] = {
    "This means that ", "Note that ", "Keep in mind that ", "Remember that ",
    "It turns out that ", "The good news is that ", "The catch is that ",
    "One reason is that ", "In other words, ", "The key point is that ",
};

static const char *const IDENTS[] = {
    "buf", "len", "count", "total", "result", "items", "config", "path",
    "value", "offset", "size", "ctx", "input", "output", "line", "user_id",
    "retries", "timeout", "max_len", "data", "key", "node", "parse_config",
    "read_file", "write_output", "handle_request", "load_model",
    "compute_hash", "validate_input", "flush_buffer", "open_stream",
    "next_token", "name", "options", "response", "request", "payload",
    "cursor", "queue", "worker", "limit", "start", "end", "score",
    "threshold", "args", "env", "err", "tmp", "batch_size", "base_url",
    "session", "cache", "entries", "headers", "rows", "columns", "stats",
};

static const char *const HEADS[] = {
    "Name", "Option", "Default", "Description", "Type", "Value", "Status",
    "Owner", "Version", "Notes", "Cost", "Size", "Latency", "Region", "Step",
    "Result", "Example", "Priority", "Category", "Score", "Date", "Team",
    "Language", "Feature", "Support", "Limit", "Price", "Rating", "Count",
};

static const char *const UNITS[] = {
    "ms", "s", "MB", "GB", "KiB", "%", "req/s", "users", "rows", "items",
    "days", "hours", "€", "km", "tokens",
};

static const char *const LANGS[] = {"python", "c", "javascript", "bash",
                                    "json", ""};

#define COUNT(a) ((uint32_t)(sizeof(a) / sizeof((a)[0])))

static wordlist W_NOUN, W_NOUNS, W_ADJ, W_VERB, W_VERB3, W_ADV, W_PREP,
    W_OPEN, W_MODAL, W_MODAL_P, W_JOIN, W_LEAD, W_IDENT, W_HEAD, W_UNIT;

static void list_init(wordlist *l, const char *const *src, uint32_t n)
{
    l->w = malloc(n * sizeof *l->w);
    if (!l->w)
        die("out of memory");
    for (uint32_t i = 0; i < n; i++) {
        l->w[i].s = src[i];
        l->w[i].n = strlen(src[i]);
    }
    l->count = n;
}

static int is_vowel(char c)
{
    return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u';
}

/* English -s inflection, good enough for the words above: plural nouns and
 * third-person verbs ("policy" -> "policies", "fix" -> "fixes"). */
static void list_inflect(wordlist *dst, const wordlist *src)
{
    dst->w = malloc(src->count * sizeof *dst->w);
    if (!dst->w)
        die("out of memory");
    dst->count = src->count;
    for (uint32_t i = 0; i < src->count; i++) {
        const char *s = src->w[i].s;
        size_t n = src->w[i].n;
        char *o = malloc(n + 3);
        if (!o)
            die("out of memory");
        memcpy(o, s, n);
        char last = s[n - 1], prev = n > 1 ? s[n - 2] : 'a';
        if (last == 'y' && !is_vowel(prev)) {
            memcpy(o + n - 1, "ies", 3);
            n += 2;
        } else if (last == 's' || last == 'x' || last == 'z' ||
                   (last == 'h' && (prev == 'c' || prev == 's'))) {
            memcpy(o + n, "es", 2);
            n += 2;
        } else {
            o[n++] = 's';
        }
        dst->w[i].s = o;
        dst->w[i].n = n;
    }
}

static void vocab_init(void)
{
    list_init(&W_NOUN, NOUNS, COUNT(NOUNS));
    list_init(&W_ADJ, ADJS, COUNT(ADJS));
    list_init(&W_VERB, VERBS, COUNT(VERBS));
    list_init(&W_ADV, ADVS, COUNT(ADVS));
    list_init(&W_PREP, PREPS, COUNT(PREPS));
    list_init(&W_OPEN, OPENERS, COUNT(OPENERS));
    list_init(&W_MODAL, MODALS, COUNT(MODALS));
    list_init(&W_MODAL_P, MODALS_P, COUNT(MODALS_P));
    list_init(&W_JOIN, JOINS, COUNT(JOINS));
    list_init(&W_LEAD, LEADS, COUNT(LEADS));
    list_init(&W_IDENT, IDENTS, COUNT(IDENTS));
    list_init(&W_HEAD, HEADS, COUNT(HEADS));
    list_init(&W_UNIT, UNITS, COUNT(UNITS));
    list_inflect(&W_NOUNS, &W_NOUN);
    list_inflect(&W_VERB3, &W_VERB);
}

static inline const word *pick(const wordlist *l)
{
    return &l->w[below(l->count)];
}

static inline void putw(buf *b, const wordlist *l)
{
    const word *w = pick(l);
    put(b, w->s, w->n);
}

/* ---- prose ---- */

/* A noun phrase, singular or plural, with occasional inline code, bold or
 * a prepositional tail. */
static void noun_phrase(buf *b, int plural)
{
    uint32_t r = below(100);
    if (r < 5) {
        PUTS(b, "the `");
        putw(b, &W_IDENT);
        PUTS(b, "` ");
        putw(b, plural ? &W_NOUNS : &W_NOUN);
        return;
    }
    if (plural) {
        static const char *const D[] = {"the ", "most ", "many ", "some ",
                                        "all ", "these ", "several ", "",
                                        "two ", "three ", "both ", "other "};
        const char *d = D[below(COUNT(D))];
        put(b, d, strlen(d));
    } else {
        static const char *const D[] = {"the ", "the ", "the ", "a ", "each ",
                                        "this ", "every ", "one ", "your ",
                                        "our ", "that ", "any "};
        const char *d = D[below(COUNT(D))];
        size_t start = b->len;
        put(b, d, strlen(d));
        if (d[0] == 'a' && d[1] == ' ') {
            /* decide a/an once the next word is known */
            b->len = start;
            const word *adj = chance(45) ? pick(&W_ADJ) : NULL;
            const word *n = pick(&W_NOUN);
            const word *first = adj ? adj : n;
            if (is_vowel(first->s[0]) && strncmp(first->s, "us", 2) &&
                strncmp(first->s, "uni", 3))
                PUTS(b, "an ");
            else
                PUTS(b, "a ");
            if (adj) {
                put(b, adj->s, adj->n);
                putch(b, ' ');
            }
            put(b, n->s, n->n);
            return;
        }
    }
    if (chance(45)) {
        if (chance(6)) {
            PUTS(b, "**");
            putw(b, &W_ADJ);
            PUTS(b, "**");
        } else {
            putw(b, &W_ADJ);
        }
        putch(b, ' ');
    }
    putw(b, plural ? &W_NOUNS : &W_NOUN);
    if (chance(8)) {
        PUTS(b, " of the ");
        putw(b, &W_NOUN);
    }
}

static void prep_phrase(buf *b)
{
    putw(b, &W_PREP);
    putch(b, ' ');
    noun_phrase(b, chance(30));
}

/* A clause: subject, verb (agreeing), object, optional tail. */
static void clause(buf *b)
{
    int plural = chance(35);
    noun_phrase(b, plural);
    putch(b, ' ');
    uint32_t r = below(100);
    if (r < 25) {
        putw(b, plural ? &W_MODAL_P : &W_MODAL);
        putch(b, ' ');
        putw(b, &W_VERB);
    } else if (r < 40) {
        putw(b, &W_ADV);
        putch(b, ' ');
        putw(b, plural ? &W_VERB : &W_VERB3);
    } else {
        putw(b, plural ? &W_VERB : &W_VERB3);
    }
    putch(b, ' ');
    noun_phrase(b, chance(30));
    if (chance(40)) {
        putch(b, ' ');
        prep_phrase(b);
    }
}

/* One sentence, capitalized and terminated. */
static void sentence(buf *b)
{
    size_t start = b->len;
    uint32_t r = below(100);
    if (r < 34) {
        clause(b);
        putch(b, '.');
    } else if (r < 48) {
        putw(b, &W_OPEN);
        PUTS(b, ", ");
        clause(b);
        putch(b, '.');
    } else if (r < 62) {
        clause(b);
        putw(b, &W_JOIN);
        clause(b);
        putch(b, '.');
    } else if (r < 70) {
        PUTS(b, "When ");
        clause(b);
        PUTS(b, ", ");
        clause(b);
        putch(b, '.');
    } else if (r < 76) {
        PUTS(b, "If you ");
        putw(b, &W_VERB);
        putch(b, ' ');
        noun_phrase(b, chance(40));
        PUTS(b, ", ");
        clause(b);
        putch(b, '.');
    } else if (r < 82) {
        putw(b, &W_LEAD);
        clause(b);
        putch(b, '.');
    } else if (r < 87) {
        static const char *const Q[] = {"How does ", "Why does ", "When does ",
                                        "Where does "};
        const char *q = Q[below(COUNT(Q))];
        put(b, q, strlen(q));
        noun_phrase(b, 0);
        putch(b, ' ');
        putw(b, &W_VERB);
        putch(b, ' ');
        noun_phrase(b, chance(40));
        putch(b, '?');
    } else if (r < 92) {
        static const char *const A[] = {
            "easy", "hard", "important", "useful", "common", "safe", "risky",
            "practical", "cheap", "expensive", "tempting", "possible",
            "reasonable", "worth it", "simpler", "faster", "better"};
        PUTS(b, "It is ");
        putstr(b, A[below(COUNT(A))]);
        PUTS(b, " to ");
        putw(b, &W_VERB);
        putch(b, ' ');
        noun_phrase(b, chance(40));
        putch(b, ' ');
        prep_phrase(b);
        putch(b, '.');
    } else if (r < 96) {
        putw(b, &W_VERB);
        putch(b, ' ');
        noun_phrase(b, chance(40));
        PUTS(b, " before you ");
        putw(b, &W_VERB);
        putch(b, ' ');
        noun_phrase(b, chance(40));
        putch(b, '.');
    } else {
        PUTS(b, "About ");
        putnum(b, between(2, 98));
        PUTS(b, " percent of ");
        putw(b, &W_NOUNS);
        putch(b, ' ');
        putw(b, &W_VERB);
        putch(b, ' ');
        noun_phrase(b, chance(50));
        putch(b, '.');
    }
    upcase_at(b, start);
}

/* The last sentence written, so that no sentence follows itself in clean
 * text (random repeats are vanishingly rare, but the invariant is cheap). */
static char last_sent[4096];
static size_t last_sent_len;

static void fresh_sentence(buf *b)
{
    for (;;) {
        size_t start = b->len;
        sentence(b);
        size_t n = b->len - start;
        if (n == last_sent_len && memcmp(b->p + start, last_sent, n) == 0) {
            b->len = start;
            continue;
        }
        if (n < sizeof last_sent) {
            memcpy(last_sent, b->p + start, n);
            last_sent_len = n;
        }
        return;
    }
}

/* ---- defects ---- */

enum {
    D_NONE,
    D_SEP,      /* table separator cells of 100-800 hyphens */
    D_PAD,      /* table cells padded with 50-200 spaces */
    D_BLANK,    /* 5-50 blank lines after the block */
    D_SPACES,   /* 40-400 spaces inside a line */
    D_ESC,      /* 5-80 literal \n (or \t, \u000a) escapes */
    D_SENT,     /* one sentence looping 3-30 times */
    D_WORD,     /* a word or short phrase looping 16-150 times */
    D_PARA,     /* a paragraph looping 3-10 times */
    D_COUNT
};

/* Space-separated loop of a 1-3 word unit ("own own own", "is the is the"). */
static void word_loop(buf *b)
{
    size_t start = b->len;
    uint32_t words = between(1, 3);
    for (uint32_t i = 0; i < words; i++) {
        if (i)
            putch(b, ' ');
        putw(b, i == 0 ? &W_NOUN : (i == 1 ? &W_PREP : &W_ADJ));
    }
    size_t n = b->len - start;
    uint32_t copies = words == 1 ? between(16, 150) : between(16, 60);
    buf_reserve(b, (n + 1) * copies);
    for (uint32_t i = 1; i < copies; i++) {
        b->p[b->len++] = ' ';
        memcpy(b->p + b->len, b->p + start, n);
        b->len += n;
    }
}

static void escape_run(buf *b)
{
    static const char *const E[] = {"\\n", "\\n", "\\n", "\\t", "\\r\\n",
                                    "\\u000a"};
    const char *e = E[below(COUNT(E))];
    size_t n = strlen(e);
    uint32_t copies = between(5, 80);
    for (uint32_t i = 0; i < copies; i++)
        put(b, e, n);
}

/* ---- blocks ---- */

static void paragraph(buf *b, int defect)
{
    uint32_t sents = between(2, 7);
    uint32_t at = below(sents);
    for (uint32_t i = 0; i < sents; i++) {
        if (i)
            putch(b, ' ');
        if (defect && i == at) {
            if (defect == D_SENT) {
                size_t start = b->len;
                sentence(b);
                size_t n = b->len - start;
                uint32_t copies = between(3, 30);
                buf_reserve(b, (n + 1) * copies);
                for (uint32_t k = 1; k < copies; k++) {
                    b->p[b->len++] = ' ';
                    memcpy(b->p + b->len, b->p + start, n);
                    b->len += n;
                }
                continue;
            }
            fresh_sentence(b);
            if (defect == D_SPACES) {
                putrep(b, ' ', between(40, 400)); /* trailing if last */
            } else if (defect == D_ESC) {
                escape_run(b);
            } else if (defect == D_WORD) {
                putch(b, ' ');
                word_loop(b);
                putch(b, '.');
            }
            continue;
        }
        fresh_sentence(b);
    }
    putch(b, '\n');
}

static void heading(buf *b)
{
    putrep(b, '#', between(1, 3));
    putch(b, ' ');
    size_t start = b->len;
    uint32_t r = below(6);
    if (r == 0) {
        PUTS(b, "How to ");
        putw(b, &W_VERB);
        PUTS(b, " the ");
        putw(b, &W_NOUN);
    } else if (r == 1) {
        PUTS(b, "Step ");
        putnum(b, between(1, 9));
        PUTS(b, ": ");
        size_t s = b->len;
        putw(b, &W_VERB);
        upcase_at(b, s);
        PUTS(b, " the ");
        putw(b, &W_NOUNS);
    } else if (r == 2) {
        putw(b, &W_NOUN);
        PUTS(b, " and ");
        putw(b, &W_NOUN);
    } else if (r == 3) {
        PUTS(b, "Why ");
        putw(b, &W_ADJ);
        putch(b, ' ');
        putw(b, &W_NOUNS);
        PUTS(b, " matter");
    } else {
        putw(b, &W_ADJ);
        putch(b, ' ');
        putw(b, &W_NOUN);
        putch(b, ' ');
        putw(b, &W_NOUNS);
    }
    upcase_at(b, start);
    putch(b, '\n');
}

static void list_block(buf *b)
{
    uint32_t items = between(3, 7);
    uint32_t style = below(3), number = 0;
    for (uint32_t i = 0; i < items; i++) {
        int nested = i > 0 && chance(12);
        if (nested)
            putstr(b, style == 2 ? "   " : "  ");
        if (style == 0 || nested)
            PUTS(b, "- ");
        else if (style == 1)
            PUTS(b, "* ");
        else {
            putnum(b, ++number);
            PUTS(b, ". ");
        }
        uint32_t r = below(3);
        if (r == 0) {
            size_t s;
            PUTS(b, "**");
            s = b->len;
            putw(b, &W_NOUN);
            upcase_at(b, s);
            PUTS(b, "**: ");
            fresh_sentence(b);
        } else if (r == 1) {
            size_t s = b->len;
            putw(b, &W_VERB);
            upcase_at(b, s);
            putch(b, ' ');
            noun_phrase(b, chance(40));
            if (chance(50)) {
                putch(b, ' ');
                prep_phrase(b);
            }
        } else {
            fresh_sentence(b);
        }
        putch(b, '\n');
    }
}

static void table_cell(buf *b, uint32_t type)
{
    switch (type) {
    case 0:
        putch(b, '`');
        putw(b, &W_IDENT);
        putch(b, '`');
        break;
    case 1:
        putnum(b, below(10000));
        if (chance(30)) {
            putch(b, '.');
            putnum(b, below(10));
        }
        putch(b, ' ');
        putw(b, &W_UNIT);
        break;
    case 2: {
        static const char *const B[] = {"yes", "no", "✅", "❌", "partial",
                                        "n/a", "true", "false"};
        const char *s = B[below(COUNT(B))];
        put(b, s, strlen(s));
        break;
    }
    case 3: {
        size_t s = b->len;
        putw(b, &W_NOUN);
        upcase_at(b, s);
        break;
    }
    default: {
        size_t s = b->len;
        putw(b, &W_ADJ);
        upcase_at(b, s);
        putch(b, ' ');
        putw(b, &W_NOUNS);
        if (chance(50)) {
            putch(b, ' ');
            prep_phrase(b);
        }
    }
    }
}

static void table(buf *b, int defect)
{
    uint32_t cols = between(2, 5), rows = between(2, 8);
    uint32_t type[5];
    for (uint32_t c = 0; c < cols; c++)
        type[c] = c == 0 ? (chance(50) ? 0 : 3) : below(5);
    int pad_all = defect == D_PAD;
    for (uint32_t c = 0; c < cols; c++) {
        putstr(b, c ? " | " : "| ");
        size_t s = b->len;
        putw(b, &W_HEAD);
        upcase_at(b, s);
        if (pad_all)
            putrep(b, ' ', between(50, 200));
    }
    PUTS(b, " |\n");
    uint32_t hy = between(100, 800);
    for (uint32_t c = 0; c < cols; c++) {
        putstr(b, c ? " | " : "| ");
        uint32_t align = below(6); /* mostly left/none */
        if (align == 4 || align == 5)
            putch(b, ':');
        if (defect == D_SEP)
            putrep(b, '-', chance(50) ? hy : between(100, 800));
        else
            PUTS(b, "---");
        if (align == 3 || align == 5)
            putch(b, ':');
    }
    PUTS(b, " |\n");
    for (uint32_t r = 0; r < rows; r++) {
        for (uint32_t c = 0; c < cols; c++) {
            putstr(b, c ? " | " : "| ");
            table_cell(b, type[c]);
            if (pad_all)
                putrep(b, ' ', between(50, 200));
        }
        PUTS(b, " |\n");
    }
}

static void code_line_indent(buf *b, uint32_t depth, uint32_t unit)
{
    putrep(b, ' ', depth * unit);
}

static void code_block(buf *b)
{
    const char *lang = LANGS[below(COUNT(LANGS))];
    PUTS(b, "```");
    put(b, lang, strlen(lang));
    putch(b, '\n');
    uint32_t lines = between(3, 12);
    if (!strcmp(lang, "python") || lang[0] == '\0') {
        PUTS(b, "def ");
        putw(b, &W_IDENT);
        putch(b, '(');
        putw(b, &W_IDENT);
        PUTS(b, ", ");
        putw(b, &W_IDENT);
        PUTS(b, "):\n");
        for (uint32_t i = 0; i < lines; i++) {
            code_line_indent(b, 1, 4);
            uint32_t r = below(6);
            if (r == 0) {
                PUTS(b, "if ");
                putw(b, &W_IDENT);
                PUTS(b, " is None:\n        return ");
                putw(b, &W_IDENT);
            } else if (r == 1) {
                PUTS(b, "for item in ");
                putw(b, &W_IDENT);
                PUTS(b, ":\n        ");
                putw(b, &W_IDENT);
                PUTS(b, ".append(item)");
            } else if (r == 2) {
                PUTS(b, "print(f\"{");
                putw(b, &W_IDENT);
                PUTS(b, "} ");
                putw(b, &W_NOUNS);
                PUTS(b, "\")");
            } else {
                putw(b, &W_IDENT);
                PUTS(b, " = ");
                putw(b, &W_IDENT);
                putch(b, '(');
                putw(b, &W_IDENT);
                PUTS(b, ", ");
                putnum(b, below(1000));
                putch(b, ')');
            }
            putch(b, '\n');
        }
        PUTS(b, "    return ");
        putw(b, &W_IDENT);
        putch(b, '\n');
    } else if (!strcmp(lang, "c")) {
        PUTS(b, "static int ");
        putw(b, &W_IDENT);
        PUTS(b, "(const char *");
        putw(b, &W_IDENT);
        PUTS(b, ", size_t n)\n{\n");
        for (uint32_t i = 0; i < lines; i++) {
            uint32_t r = below(5);
            code_line_indent(b, 1, 4);
            if (r == 0) {
                PUTS(b, "if (");
                putw(b, &W_IDENT);
                PUTS(b, " == NULL)\n        return -1;");
            } else if (r == 1) {
                PUTS(b, "for (size_t i = 0; i < n; i++)\n        ");
                putw(b, &W_IDENT);
                PUTS(b, " += ");
                putw(b, &W_IDENT);
                PUTS(b, "[i];");
            } else if (r == 2) {
                PUTS(b, "/* ");
                putw(b, &W_VERB);
                PUTS(b, " the ");
                putw(b, &W_NOUN);
                PUTS(b, " */");
            } else {
                putw(b, &W_IDENT);
                PUTS(b, " = ");
                putw(b, &W_IDENT);
                putch(b, '(');
                putw(b, &W_IDENT);
                PUTS(b, ", ");
                putnum(b, below(4096));
                PUTS(b, ");");
            }
            putch(b, '\n');
        }
        PUTS(b, "    return 0;\n}\n");
    } else if (!strcmp(lang, "javascript")) {
        PUTS(b, "async function ");
        putw(b, &W_IDENT);
        putch(b, '(');
        putw(b, &W_IDENT);
        PUTS(b, ") {\n");
        for (uint32_t i = 0; i < lines; i++) {
            code_line_indent(b, 1, 2);
            uint32_t r = below(4);
            if (r == 0) {
                PUTS(b, "const ");
                putw(b, &W_IDENT);
                PUTS(b, " = await fetch(`/api/");
                putw(b, &W_NOUNS);
                PUTS(b, "/${");
                putw(b, &W_IDENT);
                PUTS(b, "}`);");
            } else if (r == 1) {
                PUTS(b, "if (!");
                putw(b, &W_IDENT);
                PUTS(b, ") {\n    throw new Error('");
                putw(b, &W_NOUN);
                PUTS(b, " not found');\n  }");
            } else if (r == 2) {
                PUTS(b, "console.log('");
                putw(b, &W_VERB);
                PUTS(b, "', ");
                putw(b, &W_IDENT);
                PUTS(b, ");");
            } else {
                putw(b, &W_IDENT);
                PUTS(b, ".push(");
                putw(b, &W_IDENT);
                PUTS(b, ");");
            }
            putch(b, '\n');
        }
        PUTS(b, "}\n");
    } else if (!strcmp(lang, "bash")) {
        for (uint32_t i = 0; i < lines; i++) {
            uint32_t r = below(4);
            if (r == 0) {
                PUTS(b, "# ");
                putw(b, &W_VERB);
                PUTS(b, " the ");
                putw(b, &W_NOUN);
            } else if (r == 1) {
                PUTS(b, "export ");
                size_t s = b->len;
                putw(b, &W_IDENT);
                for (size_t k = s; k < b->len; k++)
                    if (b->p[k] >= 'a' && b->p[k] <= 'z')
                        b->p[k] = (char)(b->p[k] - 32);
                putch(b, '=');
                putnum(b, below(100));
            } else if (r == 2) {
                PUTS(b, "mkdir -p build/");
                putw(b, &W_IDENT);
                PUTS(b, " && cd build/");
                putw(b, &W_IDENT);
            } else {
                PUTS(b, "./");
                putw(b, &W_IDENT);
                PUTS(b, " --");
                putw(b, &W_VERB);
                PUTS(b, " --limit ");
                putnum(b, below(512));
                PUTS(b, " input.txt > out.txt");
            }
            putch(b, '\n');
        }
    } else { /* json */
        PUTS(b, "{\n");
        for (uint32_t i = 0; i < lines; i++) {
            PUTS(b, "  \"");
            putw(b, &W_IDENT);
            PUTS(b, "\": ");
            uint32_t r = below(3);
            if (r == 0)
                putnum(b, below(100000));
            else if (r == 1)
                putstr(b, chance(50) ? "true" : "null");
            else {
                putch(b, '"');
                putw(b, &W_ADJ);
                putch(b, ' ');
                putw(b, &W_NOUN);
                putch(b, '"');
            }
            if (i + 1 < lines)
                putch(b, ',');
            putch(b, '\n');
        }
        PUTS(b, "}\n");
    }
    PUTS(b, "```\n");
}

/* One Markdown block. `defect` selects the block type it needs; D_BLANK is
 * handled by the caller's gap. */
static void block(buf *b, int defect, int *prev_heading)
{
    int was_heading = *prev_heading;
    *prev_heading = 0;
    switch (defect) {
    case D_SEP:
    case D_PAD:
        table(b, defect);
        return;
    case D_SPACES:
    case D_ESC:
    case D_SENT:
    case D_WORD:
        paragraph(b, defect);
        return;
    case D_PARA: {
        size_t start = b->len;
        paragraph(b, 0);
        size_t n = b->len - start;
        uint32_t copies = between(3, 10);
        for (uint32_t i = 1; i < copies; i++) {
            putch(b, '\n');
            buf_reserve(b, n);
            memcpy(b->p + b->len, b->p + start, n);
            b->len += n;
        }
        return;
    }
    default:
        break;
    }
    uint32_t r = below(100);
    if (r < 12 && !was_heading) {
        heading(b);
        *prev_heading = 1;
    } else if (r < 62)
        paragraph(b, 0);
    else if (r < 77)
        list_block(b);
    else if (r < 89)
        table(b, 0);
    else
        code_block(b);
}

/* Blank lines after a block: 1 (90%) or 2 in clean text; 5-50, some
 * whitespace-only, for D_BLANK. */
static void gap(buf *b, int defect)
{
    if (defect == D_BLANK) {
        uint32_t n = between(5, 50);
        for (uint32_t i = 0; i < n; i++) {
            if (chance(10))
                putrep(b, ' ', between(1, 8));
            putch(b, '\n');
        }
        return;
    }
    putch(b, '\n');
    if (chance(10))
        putch(b, '\n');
}

/* A defect for the next block: D_NONE, or any kind with defect_pct% odds. */
static int pick_defect(uint32_t defect_pct)
{
    if (!defect_pct || !chance(defect_pct))
        return D_NONE;
    return (int)between(D_SEP, D_COUNT - 1);
}

/* ---- output ---- */

static buf out;
static uint64_t written;

static void flush_out(int force)
{
    if (out.len >= (1u << 20) || (force && out.len)) {
        if (fwrite(out.p, 1, out.len, stdout) != out.len)
            die("write error");
        written += out.len;
        out.len = 0;
    }
}

/* Markdown blocks until `target` bytes; defect_pct% of them defective. */
static void gen_markdown(uint64_t target, uint32_t defect_pct)
{
    int prev_heading = 0;
    heading(&out);
    PUTS(&out, "\n");
    while (written + out.len < target) {
        int d = pick_defect(defect_pct);
        block(&out, d, &prev_heading);
        if (written + out.len >= target)
            break;
        gap(&out, d == D_BLANK ? D_BLANK : D_NONE);
        flush_out(0);
    }
    flush_out(1);
}

/* ---- JSONL ---- */

static unsigned char json_esc[256]; /* 0: copy, else escape char or 'u' */

static void json_init(void)
{
    for (int c = 0; c < 0x20; c++)
        json_esc[c] = 'u';
    json_esc['\n'] = 'n';
    json_esc['\t'] = 't';
    json_esc['\r'] = 'r';
    json_esc['\b'] = 'b';
    json_esc['\f'] = 'f';
    json_esc['"'] = '"';
    json_esc['\\'] = '\\';
}

/* A JSON string. ascii != 0 escapes every non-ASCII code point as \uXXXX
 * (lowercase hex, surrogate pairs above U+FFFF), as Python's json.dumps does
 * by default; otherwise UTF-8 goes through raw, as cJSON and most other
 * writers do. The input is valid UTF-8 (the vocabulary is). */
static void put_json_string(buf *b, const char *s, size_t n, int ascii)
{
    static const char hex[] = "0123456789abcdef";
    buf_reserve(b, n * 2 + 2);
    size_t i = 0;
    b->p[b->len++] = '"';
    while (i < n) {
        size_t j = i;
        while (j < n && !json_esc[(unsigned char)s[j]] &&
               !(ascii && ((unsigned char)s[j] & 0x80)))
            j++;
        put(b, s + i, j - i);
        if (j == n)
            break;
        unsigned char c = (unsigned char)s[j];
        if (c & 0x80) {
            uint32_t cp, more = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : 1;
            cp = c & (0x3Fu >> more);
            for (uint32_t k = 1; k <= more && j + k < n; k++)
                cp = cp << 6 | ((unsigned char)s[j + k] & 0x3Fu);
            uint32_t units[2] = {cp, 0}, nu = 1;
            if (cp > 0xFFFF) {
                cp -= 0x10000;
                units[0] = 0xD800 | cp >> 10;
                units[1] = 0xDC00 | (cp & 0x3FF);
                nu = 2;
            }
            for (uint32_t u = 0; u < nu; u++) {
                char e[6] = {'\\', 'u', hex[units[u] >> 12 & 15],
                             hex[units[u] >> 8 & 15], hex[units[u] >> 4 & 15],
                             hex[units[u] & 15]};
                put(b, e, 6);
            }
            i = j + 1 + more;
            continue;
        }
        unsigned char e = json_esc[c];
        if (e == 'u') {
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            put(b, u, 6);
        } else {
            char u[2] = {'\\', (char)e};
            put(b, u, 2);
        }
        i = j + 1;
    }
    putch(b, '"');
}

static void put_random_alnum(buf *b, uint32_t n)
{
    static const char A[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    buf_reserve(b, n);
    for (uint32_t i = 0; i < n; i++)
        b->p[b->len++] = A[below(sizeof A - 1)];
}

#define CONTENT_MIN 200
#define CONTENT_MAX 3000

/* A Markdown answer of CONTENT_MIN..CONTENT_MAX bytes. A defective answer
 * gets one forced defect and maybe more; a third of them (*looped) end in a
 * sentence that repeats until CONTENT_MAX, cut mid-copy (the model hit
 * max_tokens). */
static void answer(buf *c, int defective, int *looped)
{
    *looped = defective && chance(33);
    uint32_t target = between(CONTENT_MIN + 8, *looped ? CONTENT_MAX / 2
                                                   : CONTENT_MAX);
    int prev_heading = 0, last = D_NONE;
    int forced = defective && !*looped ? (int)between(D_SEP, D_COUNT - 1)
                                       : D_NONE;
    c->len = 0;
    if (chance(30)) {
        heading(c);
        putch(c, '\n');
        prev_heading = 1;
    }
    while (c->len < target) {
        size_t mark = c->len;
        int d = D_NONE;
        if (forced && c->len > 0) { /* after the first block */
            d = forced;
            forced = D_NONE;
        } else if (defective && chance(20)) {
            d = pick_defect(100);
        }
        for (int tries = 0;; tries++) {
            block(c, d, &prev_heading);
            if (c->len <= CONTENT_MAX || tries >= 8)
                break;
            c->len = mark;
        }
        if (c->len > CONTENT_MAX) {
            c->len = mark;
            break;
        }
        last = d;
        if (c->len >= target && d != D_BLANK)
            break;
        gap(c, d == D_BLANK ? D_BLANK : D_NONE);
        if (c->len > CONTENT_MAX) {
            c->len = mark;
            break;
        }
    }
    if (last != D_BLANK) /* answers end without blank lines */
        while (c->len && c->p[c->len - 1] == '\n')
            c->len--;
    if (*looped) {
        PUTS(c, "\n\n");
        size_t start = c->len;
        sentence(c);
        size_t n = c->len - start;
        buf_reserve(c, CONTENT_MAX + n + 1); /* put() must not move c->p */
        while (c->len < CONTENT_MAX) {
            putch(c, ' ');
            put(c, c->p + start, n);
        }
        c->len = CONTENT_MAX;
        while (c->len && ((unsigned char)c->p[c->len] & 0xC0) == 0x80)
            c->len--; /* never split a UTF-8 sequence */
    }
}

/* Separators of the record being written: compact (`,` `:`) as most
 * loggers write, or Python's json.dumps default (`, ` `: `). */
static const char *sep_item = ",", *sep_kv = ":";

static void key(buf *b, const char *name, int first)
{
    if (!first)
        putstr(b, sep_item);
    putch(b, '"');
    putstr(b, name);
    putch(b, '"');
    putstr(b, sep_kv);
}

static void key_str(buf *b, const char *name, const char *value, int first)
{
    key(b, name, first);
    putch(b, '"');
    putstr(b, value);
    putch(b, '"');
}

static void key_num(buf *b, const char *name, uint64_t value, int first)
{
    key(b, name, first);
    putnum(b, value);
}

/* Records until `target` bytes: ~85% OpenAI chat completions, ~15% Gemini
 * responses; ~30% written the Python way (spaced separators, \uXXXX). */
static void gen_jsonl(uint64_t target)
{
    static const char *const MODELS[] = {"gpt-4o", "gpt-4o", "gpt-4o-mini",
                                         "gpt-4o-2024-08-06", "gpt-4-turbo"};
    static const char *const GEMINI[] = {"gemini-1.5-flash", "gemini-1.5-pro",
                                         "gemini-2.0-flash"};
    buf c = {0};
    char id[40];
    uint64_t rec = 0;
    while (written + out.len < target) {
        int defective = chance(10), looped;
        int python = chance(30);
        sep_item = python ? ", " : ",";
        sep_kv = python ? ": " : ":";
        answer(&c, defective, &looped);
        uint32_t prompt = between(20, 4000);
        uint32_t compl = (uint32_t)(c.len / 4 + 1);
        buf *o = &out;
        if (chance(85)) {
            buf idb = {id, 0, sizeof id};
            PUTS(&idb, "chatcmpl-");
            put_random_alnum(&idb, 29);
            putch(&idb, '\0');
            putch(o, '{');
            key_str(o, "id", id, 1);
            key_str(o, "object", "chat.completion", 0);
            key_num(o, "created", 1700000000u + rec * 3 + below(3), 0);
            key_str(o, "model", MODELS[below(COUNT(MODELS))], 0);
            key(o, "choices", 0);
            PUTS(o, "[{");
            key_num(o, "index", 0, 1);
            key(o, "message", 0);
            putch(o, '{');
            key_str(o, "role", "assistant", 1);
            key(o, "content", 0);
            put_json_string(o, c.p, c.len, python);
            key(o, "refusal", 0);
            PUTS(o, "null}");
            key(o, "logprobs", 0);
            PUTS(o, "null");
            key_str(o, "finish_reason", looped ? "length" : "stop", 0);
            PUTS(o, "}]");
            key(o, "usage", 0);
            putch(o, '{');
            key_num(o, "prompt_tokens", prompt, 1);
            key_num(o, "completion_tokens", compl, 0);
            key_num(o, "total_tokens", (uint64_t)prompt + compl, 0);
            putch(o, '}');
            buf fp = {id, 0, sizeof id};
            PUTS(&fp, "fp_");
            put_random_alnum(&fp, 10);
            putch(&fp, '\0');
            key_str(o, "system_fingerprint", id, 0);
            PUTS(o, "}\n");
        } else {
            putch(o, '{');
            key(o, "candidates", 1);
            PUTS(o, "[{");
            key(o, "content", 1);
            putch(o, '{');
            key(o, "parts", 1);
            PUTS(o, "[{");
            key(o, "text", 1);
            put_json_string(o, c.p, c.len, python);
            PUTS(o, "}]");
            key_str(o, "role", "model", 0);
            putch(o, '}');
            key_str(o, "finishReason", looped ? "MAX_TOKENS" : "STOP", 0);
            key_num(o, "index", 0, 0);
            PUTS(o, "}]");
            key(o, "usageMetadata", 0);
            putch(o, '{');
            key_num(o, "promptTokenCount", prompt, 1);
            key_num(o, "candidatesTokenCount", compl, 0);
            key_num(o, "totalTokenCount", (uint64_t)prompt + compl, 0);
            putch(o, '}');
            key_str(o, "modelVersion", GEMINI[below(COUNT(GEMINI))], 0);
            PUTS(o, "}\n");
        }
        rec++;
        flush_out(0);
    }
    flush_out(1);
    free(c.p);
}

/* ---- loop ---- */

/* A heading and a paragraph of intro, then one paragraph and its blank line
 * again and again, cut at exactly `target` bytes (backed off to a UTF-8
 * boundary): the model looped until the token limit. */
static void gen_loop(uint64_t target)
{
    buf para = {0}, run = {0};
    heading(&out);
    PUTS(&out, "\n");
    paragraph(&out, 0);
    PUTS(&out, "\n");
    paragraph(&para, 0);
    PUTS(&para, "\n");
    while (run.len < (1u << 20))
        put(&run, para.p, para.len);
    run.len -= run.len % para.len; /* whole copies, so chunks line up */
    if (out.len > target)
        out.len = (size_t)target;
    flush_out(1);
    while (written < target) {
        size_t n = run.len;
        if (target - written < n) {
            n = (size_t)(target - written);
            while (n && ((unsigned char)run.p[n] & 0xC0) == 0x80)
                n--;
            if (!n)
                break;
        }
        if (fwrite(run.p, 1, n, stdout) != n)
            die("write error");
        written += n;
        if (n < run.len)
            break;
    }
    free(para.p);
    free(run.p);
}

/* ---- main ---- */

_Noreturn static void usage(void)
{
    fputs("usage: gen clean|defective|jsonl|loop SIZE_MB [SEED]\n"
          "  writes at least SIZE_MB MiB (2^20 bytes) to stdout, "
          "deterministically\n",
          stderr);
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4)
        usage();
    char *end;
    double mb = strtod(argv[2], &end);
    if (*end || !(mb > 0) || mb > 1e7)
        usage();
    uint64_t target = (uint64_t)(mb * 1048576.0);
    const char *kind = argv[1];
    int k = 0;
    if (!strcmp(kind, "clean"))
        k = 0;
    else if (!strcmp(kind, "defective"))
        k = 1;
    else if (!strcmp(kind, "jsonl"))
        k = 2;
    else if (!strcmp(kind, "loop"))
        k = 3;
    else
        usage();
    uint64_t seed = 0x9E3779B97F4A7C15ull * (uint64_t)(unsigned)(k + 1);
    if (argc == 4)
        seed ^= strtoull(argv[3], NULL, 0) * 0xBF58476D1CE4E5B9ull;
    rng_state = seed ? seed : 1;
    for (int i = 0; i < 16; i++)
        rnd();

    static char iobuf[1 << 16];
    setvbuf(stdout, iobuf, _IOFBF, sizeof iobuf);
    vocab_init();
    json_init();
    buf_reserve(&out, (2u << 20));

    switch (k) {
    case 0:
        gen_markdown(target, 0);
        break;
    case 1:
        gen_markdown(target, 50);
        break;
    case 2:
        gen_jsonl(target);
        break;
    default:
        gen_loop(target);
        break;
    }
    if (fflush(stdout) != 0)
        die("write error");
    return 0;
}
