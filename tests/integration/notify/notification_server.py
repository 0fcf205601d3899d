# ruff: noqa: F821, F722
# mypy: disable-error-code="name-defined,valid-type"
"""A tiny org.freedesktop.Notifications server for tests: records every call as a JSON line.

Run as `python notification_server.py RECORD_FILE` with DBUS_SESSION_BUS_ADDRESS set; it
takes the well-known name on that bus, prints "ready" and serves until killed. It speaks the
real interface (Notify, GetCapabilities, GetServerInformation, CloseNotification and the two
signals), so clients such as desktop-notifier talk to it as to a desktop's own server.
"""

import asyncio
import json
import sys
from typing import Any

from dbus_fast import BusType
from dbus_fast.aio import MessageBus
from dbus_fast.service import ServiceInterface, method, signal


class Notifications(ServiceInterface):
    def __init__(self, record: str) -> None:
        super().__init__("org.freedesktop.Notifications")
        self._record = record
        self._next = 0

    @method()
    def Notify(
        self,
        app_name: "s",
        replaces_id: "u",
        app_icon: "s",
        summary: "s",
        body: "s",
        actions: "as",
        hints: "a{sv}",
        expire_timeout: "i",
    ) -> "u":
        self._next += 1
        call: dict[str, Any] = {
            "id": self._next,
            "app_name": app_name,
            "summary": summary,
            "body": body,
            "urgency": int(hints["urgency"].value) if "urgency" in hints else None,
            "expire_timeout": expire_timeout,
        }
        with open(self._record, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(call) + "\n")
        return self._next

    @method()
    def GetCapabilities(self) -> "as":
        return ["body", "actions"]

    @method()
    def GetServerInformation(self) -> "ssss":
        return ["phiwall-test", "PhiWall", "1.0", "1.2"]

    @method()
    def CloseNotification(self, notification_id: "u") -> None:
        self.NotificationClosed(notification_id, 3)

    @signal()
    def NotificationClosed(self, notification_id: "u", reason: "u") -> "uu":
        return [notification_id, reason]

    @signal()
    def ActionInvoked(self, notification_id: "u", action_key: "s") -> "us":
        return [notification_id, action_key]


async def main(record: str) -> None:
    bus = await MessageBus(bus_type=BusType.SESSION).connect()
    bus.export("/org/freedesktop/Notifications", Notifications(record))
    await bus.request_name("org.freedesktop.Notifications")
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
