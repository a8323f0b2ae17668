# IncidentLog — two commands do all set-up on a fresh machine:
#   make run    install what is missing, build, start one node on Config/dev.json
#   make test   install what is missing, build, run the whole suite
SWIFT      ?= swift
PREFIX     ?= /usr/local
DESTDIR    ?=
SUDO       := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := libsystemd-dev pkg-config jq netcat-openbsd

.PHONY: all deps build release run test chaos bench-append clean

all: build

# Debian packages the build, the tests and the README need; installed only when absent.
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

run: build
	./.build/debug/incidentd --config Config/dev.json

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

# Many seeds of the randomized replication test (not part of make test).
CHAOS_SEEDS ?= $(shell seq -s, 1 20)
CHAOS_ROUNDS ?= 15
chaos: deps
	$(SWIFT) build --build-tests
	INCIDENTLOG_CHAOS_SEEDS=$(CHAOS_SEEDS) INCIDENTLOG_CHAOS_ROUNDS=$(CHAOS_ROUNDS) $(SWIFT) test --skip-build --filter ChaosTests

# Durable append figures for README (release build, a fresh node with fsync always).
bench-append: release
	Benchmarks/bench-append.sh .build/release

clean:
	rm -rf .build data
