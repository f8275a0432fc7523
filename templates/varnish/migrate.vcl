vcl 4.1;
# baton transitional proxy ({{site}}): everything that still reaches the old host is passed to
# the new one, Host header untouched. Nothing is cached during the move (return (pass)), so no
# stale page is served; websockets are piped. Rendered by `baton dns proxy install`.

backend new_host {
    .host = "{{newAddress}}";
    .port = "{{newPort}}";
    .connect_timeout = 5s;
    .first_byte_timeout = 120s;
    .between_bytes_timeout = 120s;
}

sub vcl_recv {
    set req.backend_hint = new_host;
    if (req.http.Upgrade ~ "(?i)websocket") {
        return (pipe);
    }
    return (pass);
}

sub vcl_pipe {
    if (req.http.Upgrade) {
        set bereq.http.Upgrade = req.http.Upgrade;
        set bereq.http.Connection = req.http.Connection;
    }
}
