# Chart tooling: helm, kubectl and promtool into $(TOOLS_BIN), chart checks and tests.
# Included from the Makefile; works on its own too (make -f mk/chart.mk chart).

VENV ?= .venv
TOOLS_BIN ?= .tools/bin
CHART ?= charts/paceline
# Values every install must supply (an admin password hash, Strava credentials).
CHART_REQUIRED_VALUES ?= tests/chart/values/required.yaml
CHART_PROFILES ?= $(wildcard tests/chart/values/*.yaml)
# The lowest and the newest Kubernetes version the chart claims (Chart.yaml kubeVersion).
CHART_KUBE_VERSIONS ?= 1.29.0 1.37.0
CHART_RENDER_DIR ?= .tools/rendered

HELM := $(TOOLS_BIN)/helm
PROMTOOL := $(TOOLS_BIN)/promtool

.PHONY: tools chart test-chart

tools: ## install helm, kubectl and promtool into $(TOOLS_BIN) (idempotent)
	TOOLS_BIN=$(abspath $(TOOLS_BIN)) PYTHON=$(if $(wildcard $(VENV)/bin/python),$(abspath $(VENV))/bin/python,python3) tools/install-helm.sh
	TOOLS_BIN=$(abspath $(TOOLS_BIN)) tools/install-promtool.sh

chart: tools $(STAMP) ## lint the chart, render every values profile and validate it for each Kubernetes version
	$(HELM) lint --strict $(CHART) -f $(CHART_REQUIRED_VALUES)
	@rm -rf $(CHART_RENDER_DIR) && mkdir -p $(CHART_RENDER_DIR)
	@set -e; for profile in default $(notdir $(basename $(filter-out $(CHART_REQUIRED_VALUES),$(CHART_PROFILES)))); do \
		extra=""; [ "$$profile" = default ] || extra="-f tests/chart/values/$$profile.yaml"; \
		echo "==> helm template ($$profile)"; \
		$(HELM) lint --strict $(CHART) -f $(CHART_REQUIRED_VALUES) $$extra --quiet; \
		$(HELM) template paceline $(CHART) --namespace paceline -f $(CHART_REQUIRED_VALUES) $$extra \
			> $(CHART_RENDER_DIR)/$$profile.yaml; \
		for version in $(CHART_KUBE_VERSIONS); do \
			$(VENV)/bin/kubernetes-validate --strict --quiet --kubernetes-version $$version \
				$(CHART_RENDER_DIR)/$$profile.yaml; \
		done; \
	done
	@echo "==> chart OK (rendered manifests in $(CHART_RENDER_DIR); ServiceMonitor and PrometheusRule are CRDs kubernetes-validate has no schema for: checked by tests/chart)"

test-chart: tools $(STAMP) ## the chart tests (tests/chart)
	$(VENV)/bin/python -m pytest tests/chart $(PYTEST_ARGS)
