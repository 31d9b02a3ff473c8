{{/*
Names, labels and the small pieces every template shares.
Components: activity-api, auth-gateway, token-refresher, webhook-consumer, sandbox, redis, test.
*/}}

{{/* Chart name, overridable. */}}
{{- define "paceline.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Fully qualified app name, at most 63 - len("-webhook-consumer") characters so
every `<fullname>-<component>` name fits in 63.
*/}}
{{- define "paceline.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 46 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 46 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 46 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* `<fullname>-<component>`. Usage: include "paceline.componentName" (dict "ctx" $ "component" "redis") */}}
{{- define "paceline.componentName" -}}
{{- printf "%s-%s" (include "paceline.fullname" .ctx) .component -}}
{{- end -}}

{{/* Chart label value. */}}
{{- define "paceline.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels. Usage: include "paceline.selectorLabels" (dict "ctx" $ "component" "activity-api") */}}
{{- define "paceline.selectorLabels" -}}
app.kubernetes.io/name: {{ include "paceline.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Recommended labels. Usage: include "paceline.labels" (dict "ctx" $ "component" "activity-api") */}}
{{- define "paceline.labels" -}}
helm.sh/chart: {{ include "paceline.chart" .ctx }}
{{ include "paceline.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: paceline
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Labels of resources that belong to no single component (ConfigMap, Ingress...). */}}
{{- define "paceline.sharedLabels" -}}
helm.sh/chart: {{ include "paceline.chart" . }}
app.kubernetes.io/name: {{ include "paceline.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: paceline
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
Image reference. Usage: include "paceline.image" (dict "ctx" $ "image" .Values.activityApi.image)
registry: the image's own, else global.imageRegistry; tag: else the appVersion; a digest wins.
*/}}
{{- define "paceline.image" -}}
{{- $registry := .image.registry | default .ctx.Values.global.imageRegistry -}}
{{- $repository := .image.repository -}}
{{- if $registry -}}
{{- $repository = printf "%s/%s" (trimSuffix "/" $registry) $repository -}}
{{- end -}}
{{- if .image.digest -}}
{{- printf "%s@%s" $repository .image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repository (.image.tag | default .ctx.Chart.AppVersion | toString) -}}
{{- end -}}
{{- end -}}

{{/* imagePullSecrets block for a pod spec. */}}
{{- define "paceline.imagePullSecrets" -}}
{{- with .Values.global.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
ServiceAccount name of a component.
Usage: include "paceline.serviceAccountName" (dict "ctx" $ "component" "redis" "values" .Values.redis)
*/}}
{{- define "paceline.serviceAccountName" -}}
{{- if .values.serviceAccount.create -}}
{{- .values.serviceAccount.name | default (include "paceline.componentName" .) -}}
{{- else -}}
{{- .values.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end -}}

{{/* Name of the Secret that mirrors credentials. */}}
{{- define "paceline.tokensSecretName" -}}
{{- if .Values.tokensSecret.name -}}
{{- .Values.tokensSecret.name -}}
{{- else if .Values.tokensSecret.create -}}
{{- include "paceline.componentName" (dict "ctx" . "component" "tokens") -}}
{{- else -}}
{{- fail "tokensSecret.name is required when tokensSecret.create=false: name the Secret you created" -}}
{{- end -}}
{{- end -}}

{{/*
A random secret value that survives upgrades: the value already stored under
.key in Secret .name (looked up in the cluster), else `randAlphaNum .length`.
Returns it base64-encoded, for a Secret's `data`.
Usage: include "paceline.secretValue" (dict "ctx" $ "name" $name "key" "session-secret" "length" 48)
*/}}
{{- define "paceline.secretValue" -}}
{{- if hasKey .ctx "pacelineChecksum" -}}
{{- /* Rendering for paceline.checksum: a generated value is made once and never changes
(lookup keeps it), so it stays out of the checksum; otherwise each render would make a new
random value and the first upgrade would roll every pod (issue 15). */ -}}
{{- printf "generated:%s" .key | b64enc -}}
{{- else -}}
{{- $existing := lookup "v1" "Secret" .ctx.Release.Namespace .name -}}
{{- $value := "" -}}
{{- if $existing -}}
{{- $value = dig "data" .key "" $existing -}}
{{- end -}}
{{- if $value -}}
{{- $value -}}
{{- else -}}
{{- randAlphaNum (int (.length | default 48)) | b64enc -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Secret of the Fernet key: encryption.existingSecret, else the generated `<fullname>-encryption`. */}}
{{- define "paceline.encryptionSecretName" -}}
{{- .Values.encryption.existingSecret | default (printf "%s-encryption" (include "paceline.fullname" .)) -}}
{{- end -}}

{{/* Redis URL without the password (PACELINE_REDIS_URL). */}}
{{- define "paceline.redisUrl" -}}
{{- if .Values.redis.enabled -}}
{{- printf "redis://%s:%d/%d" (include "paceline.componentName" (dict "ctx" . "component" "redis")) (int .Values.redis.service.port) (int .Values.redis.database) -}}
{{- else -}}
{{- required "redis.external.url is required when redis.enabled=false (e.g. redis://redis.example:6379/0)" .Values.redis.external.url -}}
{{- end -}}
{{- end -}}

{{/* Secret and key holding the Redis password; empty name = no password. */}}
{{- define "paceline.redisSecretName" -}}
{{- if .Values.redis.enabled -}}
{{- .Values.redis.auth.existingSecret | default (include "paceline.componentName" (dict "ctx" . "component" "redis")) -}}
{{- else -}}
{{- .Values.redis.external.existingSecret -}}
{{- end -}}
{{- end -}}

{{- define "paceline.redisSecretKey" -}}
{{- if .Values.redis.enabled -}}
{{- if .Values.redis.auth.existingSecret -}}{{ .Values.redis.auth.existingSecretKey }}{{- else -}}redis-password{{- end -}}
{{- else -}}
{{- .Values.redis.external.existingSecretKey -}}
{{- end -}}
{{- end -}}

{{/*
Where the Strava client credentials come from, in this order: strava.existingSecret,
strava.clientId/clientSecret (Secret `<fullname>-strava`), the sandbox's
(Secret `<fullname>-sandbox`). Returns "existing", "values" or "sandbox"; fails otherwise.
*/}}
{{- define "paceline.stravaSource" -}}
{{- $s := .Values.strava -}}
{{- if $s.existingSecret -}}
existing
{{- else if or $s.clientId $s.clientSecret -}}
{{- if not (and $s.clientId $s.clientSecret) -}}
{{- fail "strava.clientId and strava.clientSecret must be set together (or use strava.existingSecret)" -}}
{{- end -}}
values
{{- else if .Values.sandbox.enabled -}}
sandbox
{{- else -}}
{{- fail "Strava client credentials are required: set strava.clientId and strava.clientSecret (from https://www.strava.com/settings/api), or strava.existingSecret; or set sandbox.enabled=true to try paceline against the Strava emulator" -}}
{{- end -}}
{{- end -}}

{{- define "paceline.stravaSecretName" -}}
{{- $source := include "paceline.stravaSource" . -}}
{{- if eq $source "existing" -}}
{{- .Values.strava.existingSecret -}}
{{- else if eq $source "values" -}}
{{- include "paceline.componentName" (dict "ctx" . "component" "strava") -}}
{{- else -}}
{{- include "paceline.componentName" (dict "ctx" . "component" "sandbox") -}}
{{- end -}}
{{- end -}}

{{- define "paceline.stravaClientIdKey" -}}
{{- if .Values.strava.existingSecret -}}{{ .Values.strava.existingSecretClientIdKey }}{{- else -}}client-id{{- end -}}
{{- end -}}

{{- define "paceline.stravaClientSecretKey" -}}
{{- if .Values.strava.existingSecret -}}{{ .Values.strava.existingSecretClientSecretKey }}{{- else -}}client-secret{{- end -}}
{{- end -}}

{{/* PACELINE_STRAVA_BASE_URL: the sandbox Service when it is deployed. */}}
{{- define "paceline.stravaBaseUrl" -}}
{{- if .Values.sandbox.enabled -}}
{{- printf "http://%s:%d" (include "paceline.componentName" (dict "ctx" . "component" "sandbox")) (int .Values.sandbox.service.port) -}}
{{- else -}}
{{- .Values.strava.baseUrl | trimSuffix "/" -}}
{{- end -}}
{{- end -}}

{{/* PACELINE_PUBLIC_URL: gateway.publicUrl, else the first host of the gateway's Ingress
(gateway.ingress.hosts, else ingress.hosts), else the port-forward URL. */}}
{{- define "paceline.publicUrl" -}}
{{- $hosts := .Values.gateway.ingress.hosts | default .Values.ingress.hosts -}}
{{- if .Values.gateway.publicUrl -}}
{{- .Values.gateway.publicUrl | trimSuffix "/" -}}
{{- else if and .Values.ingress.enabled $hosts -}}
{{- $host := first $hosts -}}
{{- $tls := false -}}
{{- range (.Values.gateway.ingress.tls | default .Values.ingress.tls) -}}
{{- if has $host (.hosts | default list) -}}{{- $tls = true -}}{{- end -}}
{{- end -}}
{{- printf "%s://%s" (ternary "https" "http" $tls) $host -}}
{{- else -}}
http://localhost:8080
{{- end -}}
{{- end -}}

{{/*
Secret of the admin password hash (or of the generated password); empty when only an
authenticating proxy is trusted (gateway.trustedAuthHeader).
*/}}
{{- define "paceline.adminSecretName" -}}
{{- if .Values.gateway.admin.existingSecret -}}
{{- .Values.gateway.admin.existingSecret -}}
{{- else if .Values.gateway.admin.passwordHash -}}
{{- include "paceline.componentName" (dict "ctx" . "component" "auth-gateway") -}}
{{- else if include "paceline.adminPasswordGenerated" . -}}
{{- include "paceline.componentName" (dict "ctx" . "component" "admin") -}}
{{- end -}}
{{- end -}}

{{/*
The trusted auth-proxy header needs proof that a request came through the proxy (a shared
secret the proxy adds) and the admins' identities; renders nothing, fails clearly otherwise.
*/}}
{{- define "paceline.trustedProxyCheck" -}}
{{- $g := .Values.gateway -}}
{{- if $g.trustedAuthHeader -}}
{{- if not (or $g.trustedProxy.secret $g.trustedProxy.existingSecret) -}}
{{- fail "gateway.trustedAuthHeader needs gateway.trustedProxy.secret or gateway.trustedProxy.existingSecret: a shared secret (at least 32 characters) your auth proxy adds to every request in the gateway.trustedProxy.header header, so a forged identity header is refused. See the chart README, \"The gateway behind an auth proxy\"" -}}
{{- end -}}
{{- if and $g.trustedProxy.secret (lt (len $g.trustedProxy.secret) 32) -}}
{{- fail "gateway.trustedProxy.secret must be at least 32 characters (e.g. openssl rand -base64 32)" -}}
{{- end -}}
{{- if not $g.adminEmails -}}
{{- fail "gateway.trustedAuthHeader needs gateway.adminEmails: the identities (as the proxy's header carries them) that are paceline admins" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "paceline.adminSecretKey" -}}
{{- if .Values.gateway.admin.existingSecret -}}{{ .Values.gateway.admin.existingSecretKey }}{{- else if .Values.gateway.admin.passwordHash -}}admin-password-hash{{- else -}}admin-password{{- end -}}
{{- end -}}

{{/* --- issue 15: zero-config first install --- */}}
{{/*
"true" when the chart generates the admin password: no gateway.admin.passwordHash, no
gateway.admin.existingSecret and no trusted proxy header. The password is made once into the
kept Secret <fullname>-admin (auth-gateway-admin-secret.yaml); NOTES tells how to read it.
*/}}
{{- define "paceline.adminPasswordGenerated" -}}
{{- if not (or .Values.gateway.admin.passwordHash .Values.gateway.admin.existingSecret .Values.gateway.trustedAuthHeader) -}}true{{- end -}}
{{- end -}}

{{/* The gateway's variable for the admin Secret: the plain generated password, else the hash. */}}
{{- define "paceline.adminSecretEnv" -}}
{{- if include "paceline.adminPasswordGenerated" . -}}PACELINE_ADMIN_PASSWORD{{- else -}}PACELINE_ADMIN_PASSWORD_HASH{{- end -}}
{{- end -}}
{{/*
"true" when the cluster serves the prometheus-operator API (monitoring.coreos.com/v1): the
ServiceMonitor and PrometheusRule are rendered only then. `helm template` needs
--api-versions monitoring.coreos.com/v1 to render them.
*/}}
{{- define "paceline.monitoringCRDs" -}}
{{- if .Capabilities.APIVersions.Has "monitoring.coreos.com/v1" -}}true{{- end -}}
{{- end -}}
{{/* --- end issue 15 --- */}}

{{/*
Environment shared by activity-api, auth-gateway and token-refresher: the
ConfigMap (envFrom) plus values that come from Secrets and the downward API.
*/}}
{{- define "paceline.commonEnv" -}}
- name: PACELINE_SECRET_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- $redisSecret := include "paceline.redisSecretName" . }}
{{- if $redisSecret }}
- name: PACELINE_REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $redisSecret }}
      key: {{ include "paceline.redisSecretKey" . }}
{{- end }}
- name: PACELINE_STRAVA_CLIENT_ID
  valueFrom:
    secretKeyRef:
      name: {{ include "paceline.stravaSecretName" . }}
      key: {{ include "paceline.stravaClientIdKey" . }}
- name: PACELINE_STRAVA_CLIENT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "paceline.stravaSecretName" . }}
      key: {{ include "paceline.stravaClientSecretKey" . }}
- name: PACELINE_ENCRYPTION_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "paceline.encryptionSecretName" . }}
      key: {{ ternary .Values.encryption.existingSecretKey "encryption-key" (not (empty .Values.encryption.existingSecret)) }}
{{- end -}}

{{/* envFrom block pointing at the shared ConfigMap. */}}
{{- define "paceline.envFrom" -}}
envFrom:
  - configMapRef:
      name: {{ include "paceline.componentName" (dict "ctx" . "component" "config") }}
{{- end -}}

{{/* Probe timings. Usage: include "paceline.probeTimings" .Values.activityApi.livenessProbe */}}
{{- define "paceline.probeTimings" -}}
initialDelaySeconds: {{ .initialDelaySeconds }}
periodSeconds: {{ .periodSeconds }}
timeoutSeconds: {{ .timeoutSeconds }}
failureThreshold: {{ .failureThreshold }}
successThreshold: {{ .successThreshold }}
{{- end -}}

{{/*
HTTP probes of a gunicorn service: liveness and startup on /healthz, readiness on /readyz.
Usage: include "paceline.httpProbes" .Values.activityApi
*/}}
{{- define "paceline.httpProbes" -}}
startupProbe:
  httpGet:
    path: /healthz
    port: http
  {{- include "paceline.probeTimings" .startupProbe | nindent 2 }}
livenessProbe:
  httpGet:
    path: /healthz
    port: http
  {{- include "paceline.probeTimings" .livenessProbe | nindent 2 }}
readinessProbe:
  httpGet:
    path: /readyz
    port: http
  {{- include "paceline.probeTimings" .readinessProbe | nindent 2 }}
{{- end -}}

{{/*
Topology spread constraints; entries without labelSelector get the component's selector labels.
Usage: include "paceline.topologySpread" (dict "ctx" $ "component" "activity-api" "constraints" .Values.activityApi.topologySpreadConstraints)
*/}}
{{- define "paceline.topologySpread" -}}
{{- $selector := include "paceline.selectorLabels" . | fromYaml -}}
{{- $out := list -}}
{{- range .constraints -}}
{{- $c := deepCopy . -}}
{{- if not (hasKey $c "labelSelector") -}}
{{- $_ := set $c "labelSelector" (dict "matchLabels" $selector) -}}
{{- end -}}
{{- $out = append $out $c -}}
{{- end -}}
{{- with $out }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
Scheduling fields of a pod spec. Usage: include "paceline.scheduling" .Values.activityApi
*/}}
{{- define "paceline.scheduling" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- end -}}

{{/* Checksum of rendered templates, to roll pods when they change. Usage: include "paceline.checksum" (dict "ctx" $ "files" (list "config-configmap.yaml")) */}}
{{- define "paceline.checksum" -}}
{{- /* pacelineChecksum: generated secret values render as placeholders (paceline.secretValue) */ -}}
{{- $ctx := merge (dict "pacelineChecksum" true) .ctx -}}
{{- $out := "" -}}
{{- range .files -}}
{{- $out = print $out (include (print $ctx.Template.BasePath "/" .) $ctx) -}}
{{- end -}}
{{- $out | sha256sum -}}
{{- end -}}

{{/*
An ID (athlete, client) as a string. Helm reads YAML numbers as float64, which
would print 1234567 as 1.234567e+06. Usage: include "paceline.idString" .Values.config.primaryAccount
*/}}
{{- define "paceline.idString" -}}
{{- if kindIs "float64" . -}}
{{- int64 . -}}
{{- else -}}
{{- . -}}
{{- end -}}
{{- end -}}
