"""The WebDAV-Push requests in the middleware stack, after authentication: POST push-register
on a calendar and DELETE of a registration URL. Without push.enabled this layer is absent and
POST stays refused (405)."""

from __future__ import annotations

from wsgidav.mw.base_mw import BaseMiddleware

from davserver.http import CalDAVError, respond_error
from davserver.push import registration
from davserver.settings_page.web import base_url


class PushMiddleware(BaseMiddleware):
    def __init__(self, wsgidav_app, next_app, config):
        super().__init__(wsgidav_app, next_app, config)
        self.push = config["praxis"].get("push")
        self.server_config = config["praxis"].get("server_config")

    def is_disabled(self):
        return self.push is None or not self.push.enabled

    def __call__(self, environ, start_response):
        method = environ["REQUEST_METHOD"].upper()
        path = environ.get("PATH_INFO", "")
        provider = environ["wsgidav.provider"]
        try:
            if method == "DELETE" and path.startswith(registration.PREFIX):
                viewer = provider.viewer(environ)
                if viewer is None:
                    raise CalDAVError(404, message="no such push registration")
                return registration.handle_delete(environ, start_response, viewer.id)
            if method == "POST":
                root = base_url(environ, self.server_config) if self.server_config else "/"
                return registration.handle_post(environ, start_response, provider, self.push, root)
        except CalDAVError as err:
            return respond_error(start_response, err)
        return self.next_app(environ, start_response)
