/* Trace files: offsets are 0 for the first arrival and never decrease (the contract the source
 * relies on), are bounded (an offset of 1e10 s once went negative and hung the source), and CSV
 * fields are parsed as RFC 4180 says (quoted fields, "" escapes, CRLF, a byte-order mark). */
#include <stdlib.h>

#include "stream/trace.h"
#include "test.h"

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

/* Read text as a trace; on success the offsets must start at 0 and never decrease. */
static dp_status read_trace(const char *text, int64_t **v, int64_t *n) {
    write_text("t.csv", text);
    dp_status st = dpi_trace_read("t.csv", v, n);
    if (st == DP_OK) {
        int ok = *n >= 1 && (*v)[0] == 0;
        for (int64_t i = 1; i < *n; i++) ok &= (*v)[i] >= (*v)[i - 1];
        CHECK_MSG(ok, "offsets of \"%s\" do not start at 0 or decrease", text);
    }
    return st;
}

static void test_csv_fields(void) {
    static const struct {
        const char *text;
        int64_t n, last_ns;
    } good[] = {
        {"\"time\",\"x\"\r\n\"0.0\",\"a\"\r\n\"0.5\",\"b,c\"\r\n", 2, 500000000},
        {"id,\"na\"\"me\",t\n1,\"a \"\"q\"\", b\",0.25\n2,x,0.75\n", 2, 500000000},
        {"\xEF\xBB\xBFtimestamp\n1\n3\n", 2, 2000000000},
        {"\"0.5\"\n1.5\n", 2, 1000000000},
        {"  0  \n \t# indented comment\n2e-3 \r\n", 2, 2000000},
        {"0\n1000000\n", 2, 1000000000000000}, /* exactly the bound */
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        int64_t *v = NULL, n = 0;
        CHECK_OK(read_trace(good[i].text, &v, &n));
        CHECK_MSG(n == good[i].n && v && v[n - 1] == good[i].last_ns, "case %zu: %lld offsets, last %lld", i,
                  (long long)n, v ? (long long)v[n - 1] : -1LL);
        free(v);
    }
    /* absolute timestamps: relative to the first, to within a double's resolution at 1.7e9 s */
    int64_t *v = NULL, n = 0;
    CHECK_OK(read_trace("1700000000.125\n1700000000.127\n", &v, &n));
    CHECK(n == 2 && v && llabs(v[1] - 2000000) < 1000);
    free(v);
}

static void test_bad(void) {
    static const struct {
        const char *text, *mention;
    } bad[] = {
        {"5\n55555555555\n", "t.csv:2: offset 5.55555556e+10 is 5.55555556e+10 s after the first one (5)"},
        {"0\n1e10\n", "t.csv:2:"},
        {"0\n1000000.001\n", "at most 1e+06 s"},
        {"-1e308\n1e308\n", "t.csv:2:"},
        {"t\n\"0.5\n", "t.csv:2: \"(unterminated or malformed quoted field)\""},
        {"t\n\"0.5\"x\n", "t.csv:2:"},
        {"\"time\nx\n", "t.csv:1: expected a number or a CSV header"},
        {"t\n0\n1e400\n", "t.csv:3:"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t *v = NULL, n = 0;
        CHECK_STATUS(read_trace(bad[i].text, &v, &n), DP_ERR_FORMAT);
        CHECK_ERROR_MENTIONS(bad[i].mention);
        CHECK(v == NULL && n == 0);
    }
}

/* The hang of the issue, end to end: a source over such a trace must be refused; if a regression
 * lets it through, replaying it must not hang (the watchdog fails the test instead). */
static void test_source_refuses(void) {
    dpt_watchdog(20, "replaying a trace with a 5.6e10 s offset");
    dp_dataset *ds = NULL;
    CHECK_OK(dp_dataset_synthetic(4, 3, 4, 4, 1, &ds));
    write_text("far.txt", "5\n55555555555\n");
    dp_source_opts o;
    dp_source_opts_init(&o);
    o.policy = DP_RATE_TRACE;
    o.trace_path = "far.txt";
    o.spin_ns = 0;
    dp_source *src = NULL;
    CHECK_STATUS(dp_source_create(ds, &o, &src), DP_ERR_FORMAT);
    CHECK_ERROR_MENTIONS("far.txt:2:");
    if (src) {
        dp_sample_ref s;
        while (dp_source_next(src, &s) == DP_OK) {
        }
        dp_source_free(src);
    }
    dp_dataset_free(ds);
    alarm(0);
}

int main(void) {
    test_csv_fields();
    test_bad();
    test_source_refuses();
    TEST_MAIN_END();
}
