{{/*
ClusterIP-style Service of a component, port named http (and metrics, when the
component serves /metrics on its own port: values.service.metricsPort).
Usage: include "paceline.service" (dict "ctx" $ "component" "activity-api" "values" .Values.activityApi)
*/}}
{{- define "paceline.service" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "paceline.componentName" . }}
  namespace: {{ .ctx.Release.Namespace }}
  labels:
    {{- include "paceline.labels" . | nindent 4 }}
  {{- with .values.service.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  type: {{ .values.service.type }}
  ports:
    - name: http
      port: {{ .values.service.port }}
      targetPort: http
      protocol: TCP
    {{- with .values.service.metricsPort }}
    - name: metrics
      port: {{ . }}
      targetPort: metrics
      protocol: TCP
    {{- end }}
  selector:
    {{- include "paceline.selectorLabels" . | nindent 4 }}
{{- end -}}
