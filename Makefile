# The verbs a newcomer types. `make up` runs the whole system locally; `make test` runs every test.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

ROOT    := $(CURDIR)
BIN     := $(ROOT)/.bin
# Every Go module of go.work. Each module's CI job builds, lints and tests it on its own (make
# check-module); make build checks each alone too (GOWORK=off).
MODULES := contracts platform devstack loadtest $(sort $(wildcard services/*))
# The same modules as package patterns from the root (./platform/... …). go build, go vet,
# golangci-lint and go test take them all in one call, in the workspace: one call schedules every
# package of every module on every core and loads the packages they share (platform, contracts)
# once, where a call per module waits for each module's slowest package and loads them again.
# golangci-lint on a cold cache: 26 s in one call, 128 s in one per module (docs/ci.md).
WORKSPACE_PKGS := $(addprefix ./,$(addsuffix /...,$(MODULES)))
# deploy/ (the image builder, the manifests' checks) is a module outside go.work, like tools/: its
# dependencies (go-containerregistry) must not move the services' versions. Built, linted and
# tested with GOWORK=off.
OUT_OF_WORKSPACE := deploy
# deploy's podman test builds every service's binary and image and runs two pods of each: on a
# cold build cache and a busy 2-core machine that passed go test's default 10 minutes once.
OUTSIDE_TEST_TIMEOUT := -timeout 30m
GO_TEST_FLAGS ?= -count=1
export PATH := $(BIN):$(PATH)
# `make up REPLICAS=2`: two processes of every service behind a balancer on its usual port
# (docs/devstack.md#replicas); the dev stack reads it as PARLEY_REPLICAS.
ifdef REPLICAS
export PARLEY_REPLICAS := $(REPLICAS)
endif

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

# The pinned tools (tools/go.mod's `tool` block). Each target builds only the tools it runs:
# golangci-lint alone takes minutes to build on a fresh clone, and only `make lint` needs it.
TOOL_PKGS := github.com/bufbuild/buf/cmd/buf github.com/golangci/golangci-lint/v2/cmd/golangci-lint \
             github.com/versity/versitygw/cmd/versitygw github.com/axllent/mailpit \
             github.com/rhysd/actionlint/cmd/actionlint
TOOLS     := $(foreach p,$(TOOL_PKGS),$(BIN)/$(notdir $(p)))
# The infrastructure tools the dev stack runs: versitygw unless S3_ENDPOINT points elsewhere,
# mailpit unless SMTP_URL does (docs/devstack.md). The dev stack would build a missing one itself;
# building it here also rebuilds it when its pin in tools/go.mod changes.
STACK_TOOLS := $(if $(S3_ENDPOINT),,$(BIN)/versitygw) $(if $(SMTP_URL),,$(BIN)/mailpit)

.PHONY: up
up: $(STACK_TOOLS) ## bring the whole system up locally, the web app built first (Ctrl-C stops it; data stays in .data/)
	@# Built, not `go run`: go run reports exit status 1 after Ctrl-C even when the stack stopped cleanly.
	go build -o $(BIN)/devstack ./devstack
	@# A web app that does not build must not keep backend teams from the stack: warn, start anyway.
	@$(MAKE) --no-print-directory web || { \
	  echo; \
	  echo "up: WARNING: the web app was not built (the lines above say why). Starting the stack anyway:"; \
	  echo "up:   the gateway serves an earlier build if web/dist still holds one, else no app."; \
	  echo "up:   Fix the cause and run 'make web'; the running stack serves the new build at once."; \
	  echo; }
	exec $(BIN)/devstack up

# The web app (web/): `npm ci` when node_modules is older than the lockfile or package.json, `npm
# run build` into web/dist when a source, a build script or a config file is newer than the last
# build. The dev stack serves web/dist from the gateway once it holds index.html
# (docs/devstack.md#the-web-app).
# The build's inputs: paths and globs, which only the build's recipe expands and walks. As make
# prerequisites they would be expanded and walked by every make command, whatever its target.
WEB_INPUTS = web/src web/public web/scripts web/index.html web/package.json web/vite.config.* web/tsconfig*.json web/.env*
# The packages, installed from the committed lockfile by the one rule that `make gen` (protoc-gen-es)
# and `make web` share. npm ci writes node_modules/.package-lock.json; touched because npm may leave
# it older than an edited package.json.
WEB_DEPS := web/node_modules/.package-lock.json
# Node.js and npm, from the dev stack's installer: installed from the OS packages when missing (as
# root, with apt-get, unless PARLEY_NO_INSTALL, as it does Postgres); where the OS's Node.js is
# older than web/package.json's engines accept, Node.js 22 from the npm registry into .bin/node,
# which the PATH export at the top puts first (docs/devstack.md#the-web-app).
NODE_READY = go run ./devstack install nodejs npm

.PHONY: web
web: $(if $(wildcard web/package.json),web/dist/index.html) ## build the web app into web/dist (installs Node.js and npm from the OS packages when missing)

$(WEB_DEPS): web/package-lock.json web/package.json
	@$(NODE_READY)
	cd web && npm ci --no-audit --no-fund
	@touch $@

# Always looked at (FORCE); the recipe builds when there is no build yet, or the packages or an input
# (a directory too: a deleted file changes it) are newer than it.
web/dist/index.html: $(WEB_DEPS) FORCE
	@if [ -f $@ ] && [ ! $(WEB_DEPS) -nt $@ ] && [ -z "$$(find $(wildcard $(WEB_INPUTS)) -newer $@ -print -quit)" ]; then \
	  echo "web: web/dist is up to date"; exit 0; fi; \
	$(NODE_READY); \
	echo "cd web && npm run build"; (cd web && npm run build); \
	touch $@

.PHONY: FORCE
FORCE:

.PHONY: tools
tools: $(TOOLS) ## build every pinned tool (buf, golangci-lint, versitygw, mailpit, actionlint) into .bin/

# One tool, rebuilt when tools/go.mod or go.sum changes. tools/ is its own module outside go.work
# so its large dependency graph never leaks into services. go install leaves an unchanged binary
# as it was, so touch it: make must not see it as older than a go.mod edit for another tool.
$(TOOLS): $(BIN)/%: tools/go.mod tools/go.sum
	cd tools && GOWORK=off GOBIN=$(BIN) go install $(filter %/$*,$(TOOL_PKGS))
	@touch $@

# The Tilt build beside the repository (CI has it there too; no registry here serves Tilt).
TILT_GZ ?= ../shared/tools/tilt.gz

.PHONY: tilt
tilt: $(BIN)/tilt ## install Tilt into .bin/ from ../shared/tools/tilt.gz (or TILT_GZ=..., or the tilt on PATH; the devstack tests run it; docs/devstack.md#tilt)

# make test needs it: unpacked from TILT_GZ when that file exists, else the tilt on PATH is linked.
$(BIN)/tilt: $(wildcard $(TILT_GZ))
	@mkdir -p $(BIN)
	@if [ -f $(TILT_GZ) ]; then \
	  gunzip -c $(TILT_GZ) > $@.new && chmod +x $@.new && mv -f $@.new $@ && echo "tilt: unpacked $(TILT_GZ)"; \
	elif command -v tilt >/dev/null; then \
	  ln -sf "$$(command -v tilt)" $@ && echo "tilt: using $$(command -v tilt)"; \
	else \
	  echo "no $(TILT_GZ) and no tilt on PATH: set TILT_GZ or install Tilt (https://docs.tilt.dev/install.html)"; exit 1; \
	fi

.PHONY: gen
gen: $(BIN)/buf $(WEB_DEPS) ## regenerate contracts/gen (Go) and web/src/gen (TypeScript) from the protos
	rm -rf contracts/gen/go web/src/gen
	$(BIN)/buf generate
	cd contracts && go build ./...

# The GitHub Actions workflow is generated from go.work and the modules' go.mod files (one job per
# module, path filters from the require/replace graph); devstack's tests fail when the committed
# file differs from what the generator writes (docs/ci.md).
.PHONY: ci-workflow
ci-workflow: ## regenerate .github/workflows/ci.yml from go.work and the modules' go.mod files
	go run ./devstack/ciworkflow

.PHONY: actionlint
actionlint: $(BIN)/actionlint ## check .github/workflows with actionlint (and shellcheck when installed)
	$(BIN)/actionlint

.PHONY: check-gen
check-gen: gen ## fail when generated code is stale
	@git add -N contracts/gen web/src/gen >/dev/null 2>&1 || true
	@git diff --exit-code --stat -- contracts/gen web/src/gen || { echo "contracts/gen or web/src/gen is stale: run 'make gen' and commit"; exit 1; }

.PHONY: lint
lint: $(BIN)/buf $(BIN)/golangci-lint ## buf lint, go vet and golangci-lint on every module
	$(BIN)/buf lint
	$(BIN)/buf format --diff --exit-code
	@echo "== vet + golangci-lint $(MODULES)"
	go vet $(WORKSPACE_PKGS)
	$(BIN)/golangci-lint run $(WORKSPACE_PKGS)
	@for m in $(OUT_OF_WORKSPACE); do echo "== vet + golangci-lint $$m"; (cd $$m && GOWORK=off go vet ./... && GOWORK=off $(BIN)/golangci-lint run ./...); done

# buf breaking compares the protos with this commit: by default the one before HEAD, which on main
# is main's previous commit (for a merge, its first parent). On a branch, BREAKING_AGAINST=main.
BREAKING_AGAINST ?= HEAD~1

.PHONY: breaking
breaking: $(BIN)/buf ## buf breaking: fail on a proto change that breaks clients (BREAKING_AGAINST=HEAD~1)
	@# buf reads the commit from git history: a shallow clone needs --depth 2 or more.
	@git rev-parse -q --verify '$(BREAKING_AGAINST)^{commit}' >/dev/null || { \
	  echo "buf breaking: no commit '$(BREAKING_AGAINST)' in this clone; clone with history (--depth 2 or more) or set BREAKING_AGAINST"; exit 1; }
	$(BIN)/buf breaking --against '.git#ref=$(BREAKING_AGAINST)'

.PHONY: build
# Alone, each module must also resolve its tests' imports (go list -test -deps): a go.sum entry that
# only a test's import needs is otherwise missed until someone works on that module by itself.
build: ## build every module, in the workspace and alone (GOWORK=off, its tests' imports too)
	@echo "== build $(MODULES) (the workspace)"
	@go build $(WORKSPACE_PKGS)
	@for m in $(MODULES); do echo "== build $$m (alone)"; (cd $$m && GOWORK=off go build ./... && GOWORK=off go list -test -deps ./... >/dev/null); done
	@for m in $(OUT_OF_WORKSPACE); do echo "== build $$m"; (cd $$m && GOWORK=off go build ./... && GOWORK=off go list -test -deps ./... >/dev/null); done

.PHONY: test
# test-deps in a make of its own, so that it is done before the rest starts even under make -j.
test: ## run every test: each module's unit + integration tests, the web app's, then end to end
	@$(MAKE) --no-print-directory test-deps
	@$(MAKE) --no-print-directory build test-modules test-web test-e2e

# What the tests need on the machine, checked first and installed or started only when missing
# (.ci/deps says what and how): Postgres and Redis on 127.0.0.1 unless PARLEY_TEST_DATABASE_URL /
# PARLEY_TEST_REDIS_ADDR point elsewhere, Node.js and npm, Chromium, podman and runc. Installing
# needs root or sudo without a password; PARLEY_NO_INSTALL=true installs nothing.
.PHONY: test-deps
test-deps: ## install and start what the tests need when missing (Postgres, Redis, Node.js, npm, Chromium, podman)
	bash .ci/deps all

.PHONY: test-modules
test-modules: $(BIN)/versitygw $(BIN)/mailpit $(BIN)/tilt ## each module's unit + integration tests (not devstack/e2e)
	@echo "== test $(MODULES)"
	@go test $(GO_TEST_FLAGS) $$(go list $(WORKSPACE_PKGS) | grep -v /e2e)
	@for m in $(OUT_OF_WORKSPACE); do echo "== test $$m"; (cd $$m && GOWORK=off go test $(GO_TEST_FLAGS) $(OUTSIDE_TEST_TIMEOUT) ./...); done

# One module's checks, as its CI job runs them (`.ci/run <module>` calls this; docs/ci.md): build in
# the workspace and alone, go vet, golangci-lint, the module's tests (devstack's end-to-end suite is
# the whole-system job's), and for contracts the protos' lint and format and fresh generated code.
# Each module's tests get only the binaries they start: versitygw (media's S3), mailpit
# (notification's SMTP), and for the dev stack's and the load generator's both, plus Tilt.
MODULE_TOOLS_services/media        := $(BIN)/versitygw
MODULE_TOOLS_services/notification := $(BIN)/mailpit
MODULE_TOOLS_devstack              := $(BIN)/versitygw $(BIN)/mailpit $(BIN)/tilt
MODULE_TOOLS_loadtest              := $(BIN)/versitygw $(BIN)/mailpit
MODULE_TOOLS_contracts             := $(BIN)/buf
# deploy's podman test runs the dev stack's infrastructure (S3 and mail among it).
MODULE_TOOLS_deploy                := $(BIN)/versitygw $(BIN)/mailpit
M ?=

# A module outside go.work (OUT_OF_WORKSPACE) is built, vetted, linted and tested with GOWORK=off.
OUTSIDE = $(if $(filter $(OUT_OF_WORKSPACE),$(M)),GOWORK=off)

.PHONY: check-module
check-module: $(BIN)/golangci-lint $(MODULE_TOOLS_$(M)) ## one module's CI job: build, vet, lint, tests (M=services/chat)
	@case " $(MODULES) $(OUT_OF_WORKSPACE) " in *" $(M) "*) ;; *) echo "check-module: M='$(M)' is not a module; one of: $(MODULES) $(OUT_OF_WORKSPACE)"; exit 1;; esac
	@echo "== build $(M)"
	cd $(M) && $(if $(OUTSIDE),,go build ./... && )GOWORK=off go build ./... && GOWORK=off go list -test -deps ./... >/dev/null
	@echo "== vet + golangci-lint $(M)"
	cd $(M) && $(OUTSIDE) go vet ./... && $(OUTSIDE) $(BIN)/golangci-lint run ./...
	$(if $(filter contracts,$(M)),$(BIN)/buf lint && $(BIN)/buf format --diff --exit-code && $(MAKE) check-gen)
	@echo "== test $(M)"
	cd $(M) && $(OUTSIDE) go test $(GO_TEST_FLAGS) $(if $(OUTSIDE),$(OUTSIDE_TEST_TIMEOUT)) $$($(OUTSIDE) go list ./... | grep -v /e2e)

# The web app's unit tests (Vitest); its browser tests are part of the end-to-end suite (TestWebApp).
.PHONY: test-web
test-web: $(if $(wildcard web/package.json),$(WEB_DEPS)) ## the web app's unit tests (npm test)
	$(if $(wildcard web/package.json),cd web && npm test)

.PHONY: test-e2e
test-e2e: $(BIN)/versitygw $(BIN)/mailpit $(if $(wildcard web/package.json),$(WEB_DEPS)) ## the end-to-end suite: the whole stack driven through the gateway, and the web app in Chromium
	cd devstack && go test $(GO_TEST_FLAGS) -v -timeout 15m ./e2e/...

# Images and manifests (docs/deploy.md). The gateway's image carries the web app when there is one.
.PHONY: images
images: web ## build one OCI image per service into .build/images (no daemon; same commit, same digests) and print each digest
	cd deploy && GOWORK=off go run ./cmd/images $(if $(wildcard web/package.json),-web ../web/dist) $(IMAGES)

.PHONY: manifests
manifests: ## render every Kubernetes kustomization (deploy/kubernetes) into .build/manifests and check each object against the API's schemas, offline
	cd deploy && GOWORK=off go run ./cmd/manifests

.PHONY: loadtest
loadtest: $(BIN)/versitygw $(BIN)/mailpit ## measure a private dev stack under load, each figure beside its baseline (LOADTEST_FLAGS="-duration 60s -idle-conns 20000")
	go build -o $(BIN)/devstack ./devstack
	go build -o $(BIN)/loadtest ./loadtest
	$(BIN)/loadtest $(LOADTEST_FLAGS)

.PHONY: bench
bench: ## Go benchmarks (figures in docs/profile.md, docs/chat.md, docs/telemetry.md and docs/performance.md)
	cd services/profile && go test -run '^$$' -bench SearchUsers -benchtime 200x ./internal/profiledb/
	cd services/chat && go test -run '^$$' -bench SendMessage -benchtime 5s ./internal/chatdb/
	cd platform && go test -run '^$$' -bench 'ServedCall|Interceptor|Histogram' -benchmem ./telemetry/
	cd services/gateway && go test -run '^$$' -bench ProxiedCall -benchmem ./internal/gateway/
	cd services/gateway && go test -run '^$$' -bench ForwardedOverLoopback -benchtime 20000x ./internal/gateway/
