"""``time``: the current time, time zone conversion, timestamps and week days (contract §10)."""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from difychat.server.tools.base import (
    TextOutput,
    ToolContext,
    ToolError,
    ToolOutput,
    ToolParameter,
    builtin_labels,
)
from difychat.server.tools.builtin.provider import BuiltinDefinition, BuiltinTool, Credentials, spec

PROVIDER = "time"
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
TIMEZONES = (
    "UTC",
    "America/New_York",
    "America/Los_Angeles",
    "America/Chicago",
    "America/Sao_Paulo",
    "Asia/Shanghai",
    "Asia/Ho_Chi_Minh",
    "Asia/Tokyo",
    "Asia/Dubai",
    "Asia/Kolkata",
    "Asia/Seoul",
    "Asia/Singapore",
    "Europe/London",
    "Europe/Berlin",
    "Europe/Moscow",
    "Australia/Sydney",
    "Pacific/Auckland",
    "Africa/Cairo",
)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ToolError(f"Invalid timezone: {name}") from None


def _local_zone() -> dt.tzinfo:
    zone = dt.datetime.now().astimezone().tzinfo
    return zone if zone is not None else dt.UTC


async def _current_time(arguments: Mapping[str, Any], context: ToolContext) -> Sequence[ToolOutput]:
    name = str(arguments.get("timezone") or "UTC")
    try:
        zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return [TextOutput(f"Invalid timezone: {name}")]
    pattern = str(arguments.get("format") or TIMESTAMP_FORMAT)
    try:
        return [TextOutput(context.clock().astimezone(zone).strftime(pattern))]
    except ValueError as exc:
        raise ToolError(f"invalid time format {pattern!r}: {exc}") from None


def _parse_local(text: str) -> dt.datetime:
    try:
        return dt.datetime.strptime(text.strip(), TIMESTAMP_FORMAT)
    except ValueError:
        raise ToolError(f"Invalid time {text!r}: expected YYYY-MM-DD HH:MM:SS") from None


async def _timezone_conversion(arguments: Mapping[str, Any], context: ToolContext) -> Sequence[ToolOutput]:
    text = str(arguments.get("current_time") or "")
    source = _zone(str(arguments.get("current_timezone") or "Asia/Shanghai"))
    target = _zone(str(arguments.get("target_timezone") or "Asia/Tokyo"))
    moment = _parse_local(text).replace(tzinfo=source)
    return [TextOutput(moment.astimezone(target).strftime(TIMESTAMP_FORMAT))]


async def _localtime_to_timestamp(arguments: Mapping[str, Any], context: ToolContext) -> Sequence[ToolOutput]:
    name = arguments.get("timezone")
    zone = _zone(name) if isinstance(name, str) and name.strip() else _local_zone()
    moment = _parse_local(str(arguments.get("localtime") or "")).replace(tzinfo=zone)
    return [TextOutput(str(int(moment.timestamp())))]


async def _timestamp_to_localtime(arguments: Mapping[str, Any], context: ToolContext) -> Sequence[ToolOutput]:
    stamp = arguments.get("timestamp")
    if not isinstance(stamp, int | float):
        raise ToolError("a timestamp (Unix seconds) is required")
    name = arguments.get("timezone")
    zone = _zone(name) if isinstance(name, str) and name.strip() else _local_zone()
    try:
        moment = dt.datetime.fromtimestamp(stamp, zone)
    except (OverflowError, OSError, ValueError):
        raise ToolError(f"Invalid timestamp: {stamp}") from None
    return [TextOutput(moment.strftime(TIMESTAMP_FORMAT))]


async def _weekday(arguments: Mapping[str, Any], context: ToolContext) -> Sequence[ToolOutput]:
    year, month, day = (arguments.get(key) for key in ("year", "month", "day"))
    try:
        if not all(isinstance(v, int | float) and float(v).is_integer() for v in (year, month, day)):
            raise ValueError
        date = dt.date(int(year), int(month), int(day))  # type: ignore[arg-type]
    except (ValueError, OverflowError):
        return [TextOutput(f"Invalid date: Year {year}, Month {month}, Day {day}.")]
    name = calendar.day_name[date.weekday()]
    return [TextOutput(f"{calendar.month_name[date.month]} {date.day}, {date.year} is {name}.")]


def _zone_parameter(default: str) -> ToolParameter:
    return ToolParameter(
        "timezone",
        default=default,
        description=f"IANA time zone name, such as {default} or Europe/Berlin",
    )


SPECS = (
    spec(
        PROVIDER,
        "current_time",
        "Get the current date and time.",
        [
            ToolParameter("format", form="form", default=TIMESTAMP_FORMAT, description="strftime pattern"),
            ToolParameter("timezone", type="select", form="form", default="UTC", options=TIMEZONES),
        ],
        "Current Time",
        zh_Hans="获取当前时间",
    ),
    spec(
        PROVIDER,
        "timezone_conversion",
        "Convert a local time from one time zone to another.",
        [
            ToolParameter(
                "current_time",
                required=True,
                description="the time to convert, as YYYY-MM-DD HH:MM:SS",
            ),
            ToolParameter(
                "current_timezone",
                default="Asia/Shanghai",
                description="IANA time zone of the time given",
            ),
            ToolParameter(
                "target_timezone",
                default="Asia/Tokyo",
                description="IANA time zone to convert to",
            ),
        ],
        "Timezone Conversion",
        zh_Hans="时区转换",
    ),
    spec(
        PROVIDER,
        "localtime_to_timestamp",
        "Turn a local time into a Unix timestamp (seconds).",
        [
            ToolParameter("localtime", required=True, description="the local time, as YYYY-MM-DD HH:MM:SS"),
            _zone_parameter("Asia/Shanghai"),
        ],
        "Localtime to Timestamp",
        zh_Hans="本地时间转时间戳",
    ),
    spec(
        PROVIDER,
        "timestamp_to_localtime",
        "Turn a Unix timestamp (seconds) into the local time of a time zone.",
        [
            ToolParameter("timestamp", type="number", required=True, description="Unix time in seconds"),
            _zone_parameter("Asia/Shanghai"),
        ],
        "Timestamp to Localtime",
        zh_Hans="时间戳转本地时间",
    ),
    spec(
        PROVIDER,
        "weekday",
        "Tell which day of the week a date falls on.",
        [
            ToolParameter("year", type="number", required=True, description="the year, e.g. 2025"),
            ToolParameter("month", type="number", required=True, description="the month, 1 to 12"),
            ToolParameter("day", type="number", required=True, description="the day of the month"),
        ],
        "Weekday Calculator",
        zh_Hans="星期计算",
    ),
)
_RUN = {
    "current_time": _current_time,
    "timezone_conversion": _timezone_conversion,
    "localtime_to_timestamp": _localtime_to_timestamp,
    "timestamp_to_localtime": _timestamp_to_localtime,
    "weekday": _weekday,
}


def _make(credentials: Credentials) -> list[BuiltinTool]:
    return [BuiltinTool(s, _RUN[s.name]) for s in SPECS]


DEFINITION = BuiltinDefinition(PROVIDER, builtin_labels("Time", zh_Hans="时间"), SPECS, _make)
