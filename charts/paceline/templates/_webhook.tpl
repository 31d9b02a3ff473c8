{{/* The webhook settings activity-api and the webhook consumer share (env entries). */}}
{{- define "paceline.webhookEnv" -}}
{{- $webhook := .Values.activityApi.webhook -}}
- name: PACELINE_WEBHOOK_VERIFY_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ $webhook.existingSecret | default (include "paceline.componentName" (dict "ctx" . "component" "activity-api")) }}
      key: {{ ternary $webhook.existingSecretKey "webhook-verify-token" (not (empty $webhook.existingSecret)) }}
- name: PACELINE_WEBHOOK_PATH_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ $webhook.pathSecret.existingSecret | default (include "paceline.componentName" (dict "ctx" . "component" "webhook-path")) }}
      key: {{ ternary $webhook.pathSecret.existingSecretKey "webhook-path-secret" (not (empty $webhook.pathSecret.existingSecret)) }}
{{- with $webhook.subscriptionId }}
- name: PACELINE_WEBHOOK_SUBSCRIPTION_ID
  value: {{ include "paceline.idString" . | quote }}
{{- end }}
# `paceline webhook subscribe` builds the callback from it (+ the path prefix + the secret path).
- name: PACELINE_PUBLIC_URL
  value: {{ include "paceline.publicUrl" . | quote }}
- name: PACELINE_WEBHOOK_RATE_LIMIT
  value: {{ $webhook.rateLimit | quote }}
- name: PACELINE_WEBHOOK_COOLDOWN_SECONDS
  value: {{ $webhook.cooldownSeconds | quote }}
- name: PACELINE_WEBHOOK_GRANT_CHECK_SECONDS
  value: {{ $webhook.grantCheckSeconds | quote }}
{{- end -}}
