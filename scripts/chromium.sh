#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests (Playwright drives it; it never downloads a browser).
# scripts/services.sh holds the one list of what the tests need; this is its chromium entry.
exec bash "$(dirname "$0")/services.sh" chromium
