// query_ceiling: how many sector and overview queries a node answers when the client costs
// next to nothing. Plain blocking sockets, one thread per connection, closed loop (one query in
// flight per connection), sector and overview alternately, as `incidentctl bench query --op
// both` sends them. It shows what the node allows when the Swift query clients of `bench query`
// (which share the machine's cores with the node) are taken out of the figure.
//
//   gcc -O2 -pthread -o /tmp/query_ceiling Benchmarks/query_ceiling.c
//   /tmp/query_ceiling PORT SECONDS CONNECTIONS
//
// PORT is the node's client port on 127.0.0.1; the node must accept anonymous clients there
// (loopback, no tokens). Answers are only checked to open with {"ok":true. A `rate_limited`
// answer (the node's per-connection `requests_per_second`, 10,000 by default) is counted apart
// and the query sent again; run the node with INCIDENTD_REQUESTS_PER_SECOND=0 to see the node's
// own limit. Prints queries/s in all, per operation (half of all) and the rate-limited count.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int port;
static double seconds;
static long answered[256];
static long limited[256];

static const char *queries[] = {
    "{\"op\":\"sector\",\"sector\":\"east\"}\n", "{\"op\":\"overview\"}\n",
    "{\"op\":\"sector\",\"sector\":\"north\"}\n", "{\"op\":\"overview\"}\n",
    "{\"op\":\"sector\",\"sector\":\"west\"}\n", "{\"op\":\"overview\"}\n",
};
#define QUERIES (sizeof queries / sizeof queries[0])

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void *connection(void *arg) {
    long id = (long)arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in address = {0};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = inet_addr("127.0.0.1");
    if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0) {
        perror("connect");
        exit(1);
    }
    size_t capacity = 1 << 20;
    char *buffer = malloc(capacity);
    long next = id;
    double end = now() + seconds;
    while (now() < end) {
        const char *query = queries[next % QUERIES];
        size_t length = strlen(query);
        if (write(fd, query, length) != (ssize_t)length) {
            perror("write");
            exit(1);
        }
        size_t got = 0;
        for (;;) {
            if (got == capacity) {
                capacity *= 2;
                buffer = realloc(buffer, capacity);
            }
            ssize_t n = read(fd, buffer + got, capacity - got);
            if (n <= 0) {
                fprintf(stderr, "the node closed connection %ld\n", id);
                exit(1);
            }
            got += (size_t)n;
            if (buffer[got - 1] == '\n') break;
        }
        if (strncmp(buffer, "{\"ok\":true", 10) == 0) {
            answered[id]++;
            next++;
        } else if (strstr(buffer, "\"rate_limited\"") != NULL) {
            limited[id]++;
        } else {
            fprintf(stderr, "unexpected answer: %.300s\n", buffer);
            exit(1);
        }
    }
    close(fd);
    free(buffer);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s PORT SECONDS CONNECTIONS\n", argv[0]);
        return 2;
    }
    port = atoi(argv[1]);
    seconds = atof(argv[2]);
    int connections = atoi(argv[3]);
    if (port <= 0 || seconds <= 0 || connections < 1 || connections > 256) {
        fprintf(stderr, "PORT > 0, SECONDS > 0, 1 <= CONNECTIONS <= 256\n");
        return 2;
    }
    pthread_t threads[256];
    for (long i = 0; i < connections; i++) pthread_create(&threads[i], NULL, connection, (void *)i);
    long total = 0, refused = 0;
    for (int i = 0; i < connections; i++) {
        pthread_join(threads[i], NULL);
        total += answered[i];
        refused += limited[i];
    }
    printf("%d connections, %.0f s: %.0f queries/s in all, %.0f per operation; %ld rate_limited\n", connections, seconds,
           total / seconds, total / seconds / 2, refused);
    return 0;
}
