# On erase (not upgrade): stop and disable the unit, as %systemd_preun does.
if [ "$1" -eq 0 ] && [ -d /run/systemd/system ]; then
    systemctl --no-reload disable --now tailcall-logger.service >/dev/null 2>&1 || :
fi
