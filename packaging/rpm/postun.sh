# Reload unit files; on upgrade restart the unit if it runs, as %systemd_postun_with_restart.
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
    if [ "$1" -ge 1 ]; then
        systemctl try-restart tailcall-logger.service >/dev/null 2>&1 || :
    fi
fi
