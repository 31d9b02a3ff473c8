{{/*
A `helm test` pod that asks a service's /readyz, with the activity-api image's
python (no curl needed). Usage:
include "paceline.readyzTestPod" (dict "ctx" $ "component" "activity-api" "port" .Values.activityApi.service.port)
*/}}
{{- define "paceline.readyzTestPod" -}}
{{- $ctx := .ctx -}}
{{- $image := $ctx.Values.activityApi.image -}}
{{- if $ctx.Values.tests.image.repository -}}
{{- $image = $ctx.Values.tests.image -}}
{{- end -}}
{{- $url := printf "http://%s:%d/readyz" (include "paceline.componentName" .) (int .port) -}}
apiVersion: v1
kind: Pod
metadata:
  name: {{ printf "%s-test" (include "paceline.componentName" .) | trunc 63 | trimSuffix "-" }}
  namespace: {{ $ctx.Release.Namespace }}
  labels:
    {{- include "paceline.labels" (dict "ctx" $ctx "component" "test") | nindent 4 }}
  annotations:
    helm.sh/hook: test
    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
spec:
  restartPolicy: Never
  automountServiceAccountToken: false
  {{- with (include "paceline.imagePullSecrets" $ctx) }}{{ . | trim | nindent 2 }}{{- end }}
  securityContext:
    {{- toYaml $ctx.Values.podSecurityContext | nindent 4 }}
  containers:
    - name: readyz
      image: {{ include "paceline.image" (dict "ctx" $ctx "image" $image) }}
      imagePullPolicy: {{ $image.pullPolicy }}
      command:
        - python3
        - -c
        - |
          import sys, time, urllib.request
          url = {{ $url | quote }}
          for attempt in range(10):
              try:
                  with urllib.request.urlopen(url, timeout=5) as response:
                      print(url, response.status)
                      sys.exit(0 if response.status == 200 else 1)
              except Exception as error:
                  print(url, "attempt", attempt + 1, error)
                  time.sleep(3)
          sys.exit(1)
      resources:
        {{- toYaml $ctx.Values.tests.resources | nindent 8 }}
      securityContext:
        {{- toYaml $ctx.Values.containerSecurityContext | nindent 8 }}
{{- end -}}
