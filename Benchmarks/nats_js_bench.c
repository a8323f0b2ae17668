// JetStream publish load for Benchmarks/compare: CLIENTS connections, each with one synchronous
// js_Publish in flight (closed loop, like `incidentctl bench append --batch 1`), values taken in
// turn from a file of lines (the event lines IncidentLog stored). Prints one JSON object.
//
// Build: cc -O2 -o nats_js_bench nats_js_bench.c $(pkg-config --cflags --libs libnats) -lpthread
// Usage: nats_js_bench URL CLIENTS EVENTS WARMUP VALUES_FILE [STREAM_NAME]
#include <nats/nats.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *url;
static char **values;
static size_t *lengths;
static int nvalues;

typedef struct {
    int index, count;
    uint64_t *latencies;  // ns, one per measured publish
    int measured;
    int failed;
    pthread_barrier_t *start;
    int warmup;
} Client;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int publish(jsCtx *js, int i) {
    const char *v = values[i % nvalues];
    jsPubAck *pa = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_Publish(&pa, js, "events", v, (int)lengths[i % nvalues], NULL, &jerr);
    if (pa) jsPubAck_Destroy(pa);
    if (s != NATS_OK) {
        fprintf(stderr, "js_Publish: %s (jerr %d)\n", natsStatus_GetText(s), (int)jerr);
        return -1;
    }
    return 0;
}

static void *run(void *arg) {
    Client *c = arg;
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    if (natsConnection_ConnectTo(&nc, url) != NATS_OK || natsConnection_JetStream(&js, nc, NULL) != NATS_OK) {
        fprintf(stderr, "client %d: cannot connect\n", c->index);
        c->failed = 1;
        pthread_barrier_wait(c->start);
        pthread_barrier_wait(c->start);
        return NULL;
    }
    for (int i = 0; i < c->warmup && !c->failed; i++)
        if (publish(js, c->index + i) != 0) c->failed = 1;
    pthread_barrier_wait(c->start);  // everyone warmed up
    pthread_barrier_wait(c->start);  // clock started
    for (int i = 0; i < c->count && !c->failed; i++) {
        uint64_t t0 = now_ns();
        if (publish(js, c->index * 7919 + i) != 0) { c->failed = 1; break; }
        c->latencies[c->measured++] = now_ns() - t0;
    }
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return NULL;
}

static int cmp(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: %s URL CLIENTS EVENTS WARMUP VALUES_FILE [STREAM]\n", argv[0]);
        return 2;
    }
    url = argv[1];
    int clients = atoi(argv[2]), events = atoi(argv[3]), warmup = atoi(argv[4]);
    const char *stream = argc > 6 ? argv[6] : "EVENTS";
    if (clients < 1 || events < 1) return 2;

    FILE *f = fopen(argv[5], "r");
    if (!f) { perror(argv[5]); return 1; }
    size_t cap = 1024;
    values = malloc(cap * sizeof *values);
    lengths = malloc(cap * sizeof *lengths);
    char *line = NULL;
    size_t lcap = 0;
    ssize_t n;
    while ((n = getline(&line, &lcap, f)) > 0) {
        if (line[n - 1] == '\n') line[--n] = 0;
        if (n == 0) continue;
        if (nvalues == (int)cap) {
            cap *= 2;
            values = realloc(values, cap * sizeof *values);
            lengths = realloc(lengths, cap * sizeof *lengths);
        }
        values[nvalues] = strdup(line);
        lengths[nvalues++] = (size_t)n;
    }
    fclose(f);
    if (nvalues == 0) { fprintf(stderr, "no values in %s\n", argv[5]); return 1; }

    // The stream: file storage, one replica, subject "events".
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    natsStatus s = natsConnection_ConnectTo(&nc, url);
    if (s == NATS_OK) s = natsConnection_JetStream(&js, nc, NULL);
    if (s != NATS_OK) { fprintf(stderr, "connect %s: %s\n", url, natsStatus_GetText(s)); return 1; }
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    cfg.Name = stream;
    const char *subjects[] = {"events"};
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    s = js_AddStream(&si, js, &cfg, NULL, &jerr);
    if (s != NATS_OK) { fprintf(stderr, "add stream: %s (jerr %d)\n", natsStatus_GetText(s), (int)jerr); return 1; }
    jsStreamInfo_Destroy(si);

    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)clients + 1);
    Client *cs = calloc((size_t)clients, sizeof *cs);
    pthread_t *th = calloc((size_t)clients, sizeof *th);
    int per = events / clients, extra = events % clients;
    int wper = warmup / clients;
    for (int i = 0; i < clients; i++) {
        cs[i].index = i;
        cs[i].count = per + (i < extra);
        cs[i].warmup = wper;
        cs[i].latencies = malloc(sizeof(uint64_t) * (size_t)(cs[i].count + 1));
        cs[i].start = &start;
        pthread_create(&th[i], NULL, run, &cs[i]);
    }
    pthread_barrier_wait(&start);
    uint64_t t0 = now_ns();
    pthread_barrier_wait(&start);
    for (int i = 0; i < clients; i++) pthread_join(th[i], NULL);
    double seconds = (double)(now_ns() - t0) / 1e9;

    int total = 0, failed = 0;
    for (int i = 0; i < clients; i++) { total += cs[i].measured; failed |= cs[i].failed; }
    uint64_t *all = malloc(sizeof(uint64_t) * (size_t)(total + 1));
    int k = 0;
    for (int i = 0; i < clients; i++)
        for (int j = 0; j < cs[i].measured; j++) all[k++] = cs[i].latencies[j];
    qsort(all, (size_t)total, sizeof *all, cmp);
#define PCT(p) (total ? (double)all[(size_t)((double)(total - 1) * (p))] / 1e6 : 0.0)

    // Messages the stream holds (warm-up included), as the server reports it.
    uint64_t held = 0;
    if (js_GetStreamInfo(&si, js, stream, NULL, &jerr) == NATS_OK && si) {
        held = si->State.Msgs;
        jsStreamInfo_Destroy(si);
    }
    printf("{\"clients\":%d,\"events\":%d,\"seconds\":%.3f,\"events_per_s\":%.0f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,"
           "\"p999_ms\":%.3f,\"max_ms\":%.3f,\"stream_msgs\":%llu,\"failed\":%s}\n",
           clients, total, seconds, total / seconds, PCT(0.50), PCT(0.99), PCT(0.999), PCT(1.0),
           (unsigned long long)held, failed ? "true" : "false");
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return failed ? 1 : 0;
}
