#!/bin/sh
echo "bench-multi $APP_VERSION: $(ls /srv/app/vendor/lib | wc -l) libs, $(ls /srv/app/public/gen | wc -l) assets"
