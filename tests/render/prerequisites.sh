# Sourced by the render scripts: fails (exit 1, never a skip) when node or
# the npm packages that scripts/setup installs are missing.
# Usage: require_renderer NAME ROOT
require_renderer() {
  if ! command -v node >/dev/null 2>&1; then
    echo "$1: FAILED: node is not installed: run scripts/setup" >&2
    exit 1
  fi
  if [ ! -d "$2/tools/render/node_modules" ]; then
    echo "$1: FAILED: tools/render/node_modules is missing: run scripts/setup" \
         "(it runs npm ci --prefix tools/render)" >&2
    exit 1
  fi
}
