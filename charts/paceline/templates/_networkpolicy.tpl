{{/* Selects every pod of this release (used as an allowed peer). */}}
{{- define "paceline.releasePeer" -}}
- podSelector:
    matchLabels:
      app.kubernetes.io/instance: {{ .Release.Name }}
      app.kubernetes.io/part-of: paceline
{{- end -}}

{{/* Egress of the paceline services: DNS, Redis, the sandbox, HTTPS (Strava) and the Kubernetes API. */}}
{{- define "paceline.serviceEgress" -}}
egress:
  # DNS, wherever the cluster runs it.
  - ports:
      - port: 53
        protocol: UDP
      - port: 53
        protocol: TCP
  {{- if .Values.redis.enabled }}
  - to:
      - podSelector:
          matchLabels:
            {{- include "paceline.selectorLabels" (dict "ctx" . "component" "redis") | nindent 12 }}
    ports:
      - port: 6379
        protocol: TCP
  {{- else }}
  - to:
      {{- range .Values.networkPolicy.egress.externalRedisCidrs }}
      - ipBlock:
          cidr: {{ . }}
      {{- end }}
    ports:
      - port: {{ .Values.networkPolicy.egress.externalRedisPort }}
        protocol: TCP
  {{- end }}
  {{- if .Values.sandbox.enabled }}
  - to:
      - podSelector:
          matchLabels:
            {{- include "paceline.selectorLabels" (dict "ctx" . "component" "sandbox") | nindent 12 }}
    ports:
      - port: 8090
        protocol: TCP
  {{- end }}
  {{- $egress := .Values.networkPolicy.egress }}
  {{- $https := $egress.httpsCidrs }}
  {{- $kubePorts := list }}
  {{- range $egress.kubeApiPorts }}
  {{- if eq (int .) 443 }}
  {{- $https = concat $https $egress.kubeApiCidrs | uniq }}
  {{- else }}
  {{- $kubePorts = append $kubePorts (int .) }}
  {{- end }}
  {{- end }}
  # HTTPS (443, in one rule): the provider (Strava) and the Kubernetes API behind its Service.
  - to:
      {{- range $https }}
      - ipBlock:
          cidr: {{ . }}
      {{- end }}
    ports:
      - port: 443
        protocol: TCP
  {{- if $kubePorts }}
  # The Kubernetes API on its endpoints' own ports (get/patch of the tokens Secret).
  - to:
      {{- range $egress.kubeApiCidrs }}
      - ipBlock:
          cidr: {{ . }}
      {{- end }}
    ports:
      {{- range $kubePorts }}
      - port: {{ . }}
        protocol: TCP
      {{- end }}
  {{- end }}
{{- end -}}

{{/*
NetworkPolicy of an HTTP service (activity-api, auth-gateway): http from the ingress
controller (networkPolicy.ingressFrom; empty = anyone) and this release's pods; the
metrics port from networkPolicy.metricsFrom only (empty = anyone); service egress.
Usage: include "paceline.httpServiceNetworkPolicy" (dict "ctx" $ "component" "activity-api")
*/}}
{{- define "paceline.httpServiceNetworkPolicy" -}}
{{- if .ctx.Values.networkPolicy.enabled }}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "paceline.componentName" . }}
  namespace: {{ .ctx.Release.Namespace }}
  labels:
    {{- include "paceline.labels" . | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- include "paceline.selectorLabels" . | nindent 6 }}
  policyTypes: ["Ingress", "Egress"]
  ingress:
    - ports:
        - port: http
          protocol: TCP
      {{- with .ctx.Values.networkPolicy.ingressFrom }}
      from:
        {{- toYaml . | nindent 8 }}
        {{- include "paceline.releasePeer" $.ctx | nindent 8 }}
      {{- end }}
    - ports:
        - port: metrics
          protocol: TCP
      {{- with .ctx.Values.networkPolicy.metricsFrom }}
      from:
        {{- toYaml . | nindent 8 }}
      {{- end }}
  {{- include "paceline.serviceEgress" .ctx | nindent 2 }}
{{- end }}
{{- end -}}
