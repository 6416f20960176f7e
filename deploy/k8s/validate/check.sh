#!/bin/sh
# check.sh: `make check-k8s`. Renders deploy/k8s/base and the overlay
# deploy/k8s/overlays/two-challenges with `kubectl kustomize`, validates
# every object (validate.mjs, with the npm packages of package-lock.json
# installed into build/k8s/validate), then checks that the validation can
# fail: a misspelt field, a wrong type and a missing privilege, each put
# into a copy of the tree, must be refused. Ends with "N passed, N failed".
set -eu
cd "$(dirname "$0")/../../.."
top=$(pwd)
out=$top/build/k8s
v=$out/validate
mkdir -p "$out/render" "$v"
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok: $*"; }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }

# The validator's packages, from the lockfile, reinstalled when it changes.
cp deploy/k8s/validate/package.json deploy/k8s/validate/package-lock.json \
    deploy/k8s/validate/validate.mjs "$v/"
if ! cmp -s deploy/k8s/validate/package-lock.json "$v/.installed" ||
    [ ! -d "$v/node_modules" ]; then
	(cd "$v" && timeout 300 npm ci --no-audit --no-fund --loglevel=error)
	cp deploy/k8s/validate/package-lock.json "$v/.installed"
fi

# kubectl kustomize DIR > FILE; kustomize v5's deprecation notes for the
# v2-compatible fields are not errors.
render() {
	if ! kubectl kustomize "$1" >"$2" 2>"$2.err"; then
		cat "$2.err" >&2
		return 1
	fi
	grep -v "^# Warning: '[a-zA-Z0-9]*' is deprecated" "$2.err" >&2 || true
}

# validate FILE: runs validate.mjs on it, its output in FILE.out.
validate() {
	(cd "$v" && PRIVILEGES="$top/deploy/image/podman-privileges" \
	    node validate.mjs "$1") >"$1.out" 2>&1
}

echo "kubectl: $(kubectl version --client 2>/dev/null | head -1)"
for t in base overlays/two-challenges; do
	f=$out/render/$(basename "$t").yaml
	if render "deploy/k8s/$t" "$f" && validate "$f"; then
		ok "$t: $(tail -1 "$f.out")"
	else
		bad "$t: $(cat "$f.out" 2>/dev/null)"
	fi
done
grep -q '^validate: 5 objects (.*1 Deployment' "$out/render/base.yaml.out" &&
    ok "base: one challenge" || bad "base: not one challenge's 5 objects"
grep -q '^validate: 10 objects (.*2 Deployment' \
    "$out/render/two-challenges.yaml.out" &&
    ok "overlay: two challenges" || bad "overlay: not 2 challenges"

# Each mutation of deploy/k8s/base must make the base fail validation,
# with the expected words in the report.
mutant() {
	what=$1 sedexpr=$2 file=$3 want=$4
	m=$out/mutant
	rm -rf "$m"
	mkdir -p "$m"
	cp -r deploy/k8s/base "$m/base"
	sed -i "$sedexpr" "$m/base/$file"
	if cmp -s "deploy/k8s/base/$file" "$m/base/$file"; then
		bad "$what: the mutation changed nothing"
		return
	fi
	if ! render "$m/base" "$m/render.yaml"; then
		ok "$what: refused by kustomize"
	elif validate "$m/render.yaml"; then
		bad "$what: validated"
	elif grep -q "$want" "$m/render.yaml.out"; then
		ok "$what: refused: $(grep -m1 "$want" "$m/render.yaml.out")"
	else
		bad "$what: refused, but not for $want: $(cat "$m/render.yaml.out")"
	fi
}
mutant "a misspelt field" 's/readinessProbe:/readinesProbe:/' \
    deployment.yaml "readinesProbe.* does not exist"
mutant "a misspelt nested field" \
    's/readOnlyRootFilesystem: true/readOnlyRootFileSystem: true/' \
    deployment.yaml "readOnlyRootFileSystem.* does not exist"
mutant "a wrong type" 's/replicas: 2/replicas: two/' deployment.yaml \
    "schema: .*replicas"
mutant "an unknown enum value" 's/type: LoadBalancer/type: LoadBalancr/' \
    service.yaml "LoadBalancr"
mutant "a missing privilege" '/- SETPCAP/d' deployment.yaml \
    "capabilities.add"
mutant "egress allowed" 's/egress: \[\]/egress: [{}]/' networkpolicy.yaml \
    "egress is not denied"
echo "check-k8s: $passed passed, $failed failed"
[ "$failed" = 0 ]
