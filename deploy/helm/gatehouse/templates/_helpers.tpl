{{/*
The templates of this chart use Go text/template's own actions and functions only: define,
template, if, with, range, variables, and, or, not, eq, ne, len, slice, print, printf. No Sprig or
Helm function (include, toYaml, quote, default, nindent, required, tpl, .Files, lookup).
helm renders such templates exactly as Go does, and test/deploy/helm-chart.test.ts renders them
with Go's own text/template (compiled to WebAssembly), since helm itself cannot be installed where
the tests run: anything outside these built-ins fails that test.

Without nindent, labels are written as one-line YAML flow mappings, which need no indentation.
Strings that may hold YAML's special characters are written with printf "%q", a double-quoted
string YAML reads back unchanged.
*/}}

{{- define "gatehouse.fullname" -}}
{{- $name := .Values.fullnameOverride -}}
{{- if not $name -}}
{{- $name = .Release.Name -}}
{{- if ne .Release.Name .Chart.Name -}}{{- $name = print .Release.Name "-" .Chart.Name -}}{{- end -}}
{{- end -}}
{{- if gt (len $name) 63 -}}{{- $name = slice $name 0 63 -}}{{- end -}}
{{- $name -}}
{{- end -}}

{{- define "gatehouse.selectorLabels" -}}
{app.kubernetes.io/name: {{ .Chart.Name }}, app.kubernetes.io/instance: {{ .Release.Name }}}
{{- end -}}

{{- define "gatehouse.labels" -}}
{app.kubernetes.io/name: {{ .Chart.Name }}, app.kubernetes.io/instance: {{ .Release.Name }}, app.kubernetes.io/version: {{ printf "%q" .Chart.AppVersion }}, app.kubernetes.io/managed-by: {{ .Release.Service }}, helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}}
{{- end -}}
