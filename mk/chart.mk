# Chart tooling: helm, kubectl and promtool into $(TOOLS_BIN), chart checks and tests.
# Included from the Makefile; works on its own too (make -f mk/chart.mk chart).

VENV ?= .venv
TOOLS_BIN ?= .tools/bin
CHART ?= charts/paceline
# Values most test profiles start from (an admin password hash, Strava credentials).
CHART_REQUIRED_VALUES ?= tests/chart/values/required.yaml
CHART_PROFILES ?= $(wildcard tests/chart/values/*.yaml)
# Profiles rendered on their own, without the required values: installs that need nothing else
# (the zero-config sandbox, real Strava with two values, the plain-cluster example).
CHART_STANDALONE_PROFILES ?= $(wildcard tests/chart/values/standalone/*.yaml)
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
	@set -e; for profile in default $(notdir $(basename $(filter-out $(CHART_REQUIRED_VALUES),$(CHART_PROFILES)))) \
			$(addprefix standalone/,$(notdir $(basename $(CHART_STANDALONE_PROFILES)))); do \
		values="-f $(CHART_REQUIRED_VALUES)"; \
		case "$$profile" in \
			default) ;; \
			standalone/*) values="-f tests/chart/values/$$profile.yaml" ;; \
			*) values="$$values -f tests/chart/values/$$profile.yaml" ;; \
		esac; \
		echo "==> helm template ($$profile)"; \
		$(HELM) lint --strict $(CHART) $$values --quiet; \
		mkdir -p $(CHART_RENDER_DIR)/standalone; \
		$(HELM) template paceline $(CHART) --namespace paceline $$values \
			> $(CHART_RENDER_DIR)/$$profile.yaml; \
		for version in $(CHART_KUBE_VERSIONS); do \
			$(VENV)/bin/kubernetes-validate --strict --quiet --kubernetes-version $$version \
				$(CHART_RENDER_DIR)/$$profile.yaml; \
		done; \
	done
	@echo "==> chart OK (rendered manifests in $(CHART_RENDER_DIR); ServiceMonitor and PrometheusRule are rendered only with --api-versions monitoring.coreos.com/v1, and kubernetes-validate has no schema for them: checked by tests/chart)"

test-chart: tools $(STAMP) ## the chart tests (tests/chart)
	$(VENV)/bin/python -m pytest tests/chart $(PYTEST_ARGS)
