# IncidentLog — two commands do all set-up on a fresh machine:
#   make run    install what is missing, build, start one node on Config/dev.json
#   make test   install what is missing, check doc links and swift-format, build, check the Deploy/ units, run the whole suite
#   make install  release binaries, systemd units and a default config (PREFIX, DESTDIR)
SWIFT      ?= swift
# The debug build compiles the modules the unit tests spend their time in with -O (see
# Package.swift); INCIDENTLOG_OPTIMIZE_DEBUG=0 builds them for a debugger instead.
export INCIDENTLOG_OPTIMIZE_DEBUG ?= 1
PREFIX     ?= /usr/local
DESTDIR    ?=
SUDO       := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := libsystemd-dev zlib1g-dev pkg-config jq netcat-openbsd systemd libjs-leaflet libjs-chart.js chromium prometheus

.PHONY: all deps build release run test verify-units install chaos soak bench-append clean

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
	python3 .ci/check-links
	SWIFT=$(SWIFT) python3 .ci/format-lint
	$(SWIFT) build --build-tests
	$(MAKE) --no-print-directory verify-units
	SWIFT=$(SWIFT) .ci/test-suites

# The Deploy/ units as systemd reads them: `systemd-analyze verify` must print nothing at all,
# and the service's hardening must rate at most 2.0. ExecStart= is pointed at the debug build
# (verify checks that the binary exists), as `make install` points it at BINDIR.
UNITS := incidentd.service incidentd.socket incidentd-peer.socket incidentd-http.socket
verify-units:
	@dir=$$(mktemp -d); trap 'rm -rf "$$dir"' EXIT; \
	for u in $(UNITS); do sed 's|/usr/local/bin/incidentd|$(CURDIR)/.build/debug/incidentd|' Deploy/$$u > "$$dir/$$u"; done; \
	systemd-analyze verify $(addprefix "$$dir"/,$(UNITS)) 2>"$$dir/stderr"; rc=$$?; cat "$$dir/stderr" >&2; \
	if [ $$rc != 0 ] || [ -s "$$dir/stderr" ]; then echo "verify-units: systemd-analyze verify complained about Deploy/" >&2; exit 1; fi; \
	systemd-analyze security --offline=true --threshold=20 --no-pager "$$dir/incidentd.service" >"$$dir/security" 2>&1; rc=$$?; \
	tail -n 1 "$$dir/security"; \
	if [ $$rc != 0 ]; then cat "$$dir/security" >&2; echo "verify-units: incidentd.service is rated above 2.0" >&2; exit 1; fi

# make install: incidentd and incidentctl (release, Swift runtime linked in, so the server needs
# no toolchain), the units (ExecStart= pointed at BINDIR), /etc/incidentlog/incidentd.json
# (only when absent: an operator's config is never overwritten) and the operations docs.
# docs/OPERATIONS.md says what to do next. To stage a package: make install DESTDIR=/tmp/root.
BINDIR     ?= $(PREFIX)/bin
UNITDIR    ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR ?= /etc
DOCDIR     ?= $(PREFIX)/share/doc/incidentlog
INSTALL_SCRATCH ?= .build-install
INSTALL_BIN     ?= $(INSTALL_SCRATCH)/release
INSTALL_BUILD   ?= $(SWIFT) build -c release --static-swift-stdlib --scratch-path $(INSTALL_SCRATCH)
install: deps
	$(INSTALL_BUILD)
	install -d "$(DESTDIR)$(BINDIR)" "$(DESTDIR)$(UNITDIR)" "$(DESTDIR)$(DOCDIR)" "$(DESTDIR)$(SYSCONFDIR)/incidentlog"
	install -m 0755 "$(INSTALL_BIN)/incidentd" "$(INSTALL_BIN)/incidentctl" "$(DESTDIR)$(BINDIR)/"
	# The dashboard's files: SwiftPM's resource bundle, which incidentd looks for beside itself.
	rm -rf "$(DESTDIR)$(BINDIR)/IncidentLog_IncidentHTTP.resources"
	cp -R "$(INSTALL_BIN)/IncidentLog_IncidentHTTP.resources" "$(DESTDIR)$(BINDIR)/"
	for u in $(UNITS); do \
		sed -e 's|/usr/local/bin/|$(BINDIR)/|g' -e 's|/usr/local/share/doc/incidentlog|$(DOCDIR)|g' \
			-e 's|/etc/incidentlog/|$(SYSCONFDIR)/incidentlog/|g' Deploy/$$u > "$(DESTDIR)$(UNITDIR)/$$u"; \
		chmod 0644 "$(DESTDIR)$(UNITDIR)/$$u"; \
	done
	@if [ -e "$(DESTDIR)$(SYSCONFDIR)/incidentlog/incidentd.json" ]; then \
		echo "keeping the existing $(DESTDIR)$(SYSCONFDIR)/incidentlog/incidentd.json"; \
	else \
		install -m 0644 Deploy/incidentd.json "$(DESTDIR)$(SYSCONFDIR)/incidentlog/incidentd.json"; \
	fi
	install -m 0644 docs/OPERATIONS.md "$(DESTDIR)$(DOCDIR)/OPERATIONS.md"
	install -m 0644 Config/README.md "$(DESTDIR)$(DOCDIR)/CONFIGURATION.md"
	@echo "installed. Next: set node_id (and peers, trust) in $(SYSCONFDIR)/incidentlog/incidentd.json,"
	@echo "then: systemctl daemon-reload && systemctl enable --now incidentd  (docs: $(DOCDIR)/OPERATIONS.md)"

# Many seeds of the randomized replication test (not part of make test).
CHAOS_SEEDS ?= $(shell seq -s, 1 20)
CHAOS_ROUNDS ?= 15
chaos: deps
	$(SWIFT) build --build-tests
	INCIDENTLOG_CHAOS_SEEDS=$(CHAOS_SEEDS) INCIDENTLOG_CHAOS_ROUNDS=$(CHAOS_ROUNDS) $(SWIFT) test --skip-build --filter ChaosTests

# Soak (not part of make test): 50 clients appending and 3 peers syncing against one node for
# SOAK_SECONDS; RSS and open fds sampled every 10 s must stay within 10% after warm-up, no
# acknowledged event may be lost. Ends with a "soak: …" summary line.
SOAK_SECONDS ?= 600
soak: deps
	$(SWIFT) build --build-tests
	INCIDENTLOG_SOAK_SECONDS=$(SOAK_SECONDS) $(SWIFT) test --skip-build --filter SoakTests

# Durable append figures for README (release build, a fresh node with fsync always).
bench-append: release
	Benchmarks/bench-append.sh .build/release

# IncidentLog against Redis, NATS, PostgreSQL and SQLite in one run (installs them when absent);
# compare-quick is the small smoke run for CI. Options: make compare COMPARE_ARGS="--json out.json"
.PHONY: compare compare-quick
compare: release
	Benchmarks/compare --bin .build/release $(COMPARE_ARGS)
compare-quick: build
	Benchmarks/compare --quick --bin .build/debug $(COMPARE_ARGS)

# libFuzzer over the line decoder and the request, peer-message, event and JSON parsers
# (Sources/IncidentFuzz). Not part of make test, which replays Fuzz/corpus through the same
# harnesses without sanitizers (Tests/FuzzRegressionTests). Its own scratch path, since every module
# is rebuilt with the sanitizers; release, because the debug build runs ~8x fewer executions per
# second. New inputs go to .build-fuzz/corpus (kept between runs), crashes to .build-fuzz/artifacts/;
# add a crash input to Fuzz/corpus once fixed. Extra libFuzzer flags: make fuzz FUZZ_ARGS=-runs=1000000
FUZZ_SECONDS ?= 300
FUZZ_MAX_LEN ?= 4096
FUZZ_ARGS    ?=
FUZZ_BUILD   ?= $(SWIFT) build -c release --scratch-path .build-fuzz --product IncidentFuzz \
	-Xswiftc -sanitize=fuzzer,address -Xswiftc -DINCIDENT_FUZZING -Xswiftc -enable-experimental-feature -Xswiftc Extern
.PHONY: fuzz fuzz-ci
fuzz: deps
	$(FUZZ_BUILD)
	mkdir -p .build-fuzz/corpus .build-fuzz/artifacts
	SWIFT_BACKTRACE=enable=no LSAN_OPTIONS=suppressions=$(CURDIR)/Fuzz/lsan.supp \
		.build-fuzz/release/IncidentFuzz .build-fuzz/corpus Fuzz/corpus -max_total_time=$(FUZZ_SECONDS) \
		-max_len=$(FUZZ_MAX_LEN) -timeout=10 -print_final_stats=1 -artifact_prefix=.build-fuzz/artifacts/ $(FUZZ_ARGS)
fuzz-ci:
	$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=60

clean:
	rm -rf .build data
