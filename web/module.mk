# web/: the SCADA dashboard and the WebXR hologram client (npm + esbuild).
# `npm ci` runs only when node_modules is missing or older than the lockfile;
# the bundle is rebuilt only when a source changed (stamp files).
WEB_SRCS := web/build.mjs $(wildcard web/src/*.* web/src/*/*.* web/src/*/*/*.*)

web: web/dist/.stamp

web/node_modules/.stamp: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

web/dist/.stamp: $(WEB_SRCS) web/node_modules/.stamp
	cd web && node build.mjs
	@touch $@
