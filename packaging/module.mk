# packaging/: `make install` (also what debian/rules runs) and the files
# only an installed system needs (sysusers, tmpfiles, udev, /etc configs).
# Directories follow the GNU names; the units' and the config's own paths
# (/usr/bin, /etc, /usr/share) are rewritten to them as they are installed.
#   make install PREFIX=/usr sysconfdir=/etc DESTDIR=/tmp/stage
PREFIX ?= /usr/local
bindir ?= $(PREFIX)/bin
datadir ?= $(PREFIX)/share
mandir ?= $(datadir)/man
docdir ?= $(datadir)/doc/holotwin
sysconfdir ?= $(PREFIX)/etc
unitdir ?= $(PREFIX)/lib/systemd/system
sysusersdir ?= $(PREFIX)/lib/sysusers.d
tmpfilesdir ?= $(PREFIX)/lib/tmpfiles.d
udevrulesdir ?= $(PREFIX)/lib/udev/rules.d
bashcompdir ?= $(datadir)/bash-completion/completions

PKG_SED = sed -e 's|/usr/bin/|$(bindir)/|g' \
	-e 's|/etc/holotwin|$(sysconfdir)/holotwin|g' \
	-e 's|/usr/share/holotwin|$(datadir)/holotwin|g'
PKG_DOCS := README.md docs/gatewayd.md docs/device-agent.md docs/api.md \
	docs/architecture.md docs/twins.md docs/packaging.md gateway/openapi.yaml
PKG_EXAMPLES := gateway/gatewayd.example.json \
	$(wildcard device-agent/examples/*.json)
D = $(DESTDIR)

# Configs in sysconfdir are installed only where none exists: an operator's
# edits survive `make install` (the Debian package's conffiles do the same).
install: all
	install -d $(D)$(bindir) $(D)$(datadir)/holotwin/web $(D)$(unitdir) \
		$(D)$(sysusersdir) $(D)$(tmpfilesdir) $(D)$(udevrulesdir) \
		$(D)$(mandir)/man1 $(D)$(mandir)/man8 $(D)$(bashcompdir) \
		$(D)$(docdir)/examples $(D)$(sysconfdir)/holotwin
	install -m 0755 $(BINS) $(D)$(bindir)/
	cp -r web/dist/. $(D)$(datadir)/holotwin/web/
	rm -f $(D)$(datadir)/holotwin/web/.stamp
	$(PKG_SED) gateway/gatewayd.service >$(D)$(unitdir)/gatewayd.service
	$(PKG_SED) device-agent/device-agent.service \
		>$(D)$(unitdir)/device-agent.service
	chmod 0644 $(D)$(unitdir)/gatewayd.service $(D)$(unitdir)/device-agent.service
	install -m 0644 packaging/holotwin.sysusers $(D)$(sysusersdir)/holotwin.conf
	install -m 0644 packaging/holotwin-agent.sysusers \
		$(D)$(sysusersdir)/holotwin-agent.conf
	install -m 0644 packaging/holotwin.tmpfiles $(D)$(tmpfilesdir)/holotwin.conf
	install -m 0644 packaging/60-holotwin-gpio.rules $(D)$(udevrulesdir)/
	install -m 0644 docs/gwctl.1 $(D)$(mandir)/man1/
	install -m 0644 docs/gatewayd.8 docs/device-agent.8 $(D)$(mandir)/man8/
	install -m 0644 tools/gwctl/gwctl.bash-completion $(D)$(bashcompdir)/gwctl
	install -m 0644 $(PKG_DOCS) $(D)$(docdir)/
	install -m 0644 $(PKG_EXAMPLES) $(D)$(docdir)/examples/
	for f in gatewayd.json device-agent.json; do \
		[ -e $(D)$(sysconfdir)/holotwin/$$f ] || { \
		$(PKG_SED) packaging/$$f >$(D)$(sysconfdir)/holotwin/$$f && \
		chmod 0644 $(D)$(sysconfdir)/holotwin/$$f; }; done

# The Debian packages holotwin and holotwin-agent, written to the parent
# directory as dpkg-buildpackage does, then lintian at error and warning
# level (docs/packaging.md).
deb:
	@scripts/setup-deps --pkg
	dpkg-buildpackage -us -uc -b
	lintian --fail-on error,warning ../holotwin_$(VERSION)_$(shell dpkg --print-architecture).changes
.PHONY: deb
