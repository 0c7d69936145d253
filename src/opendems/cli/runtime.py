"""What every command shares: settings, the container, the acting account, error handling."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console

from opendems.adapters.crypto.envelope import BlobIntegrityError
from opendems.adapters.crypto.keys import KeyError_
from opendems.bootstrap import Container, initialise, os_user
from opendems.config import Settings
from opendems.domain.custody import Where
from opendems.domain.errors import DomainError
from opendems.services.accounts import CLI_ACCOUNT, user_principal
from opendems.services.context import Actor

console = Console()
err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


class State:
    data_dir: Path | None = None
    acting_as: str = CLI_ACCOUNT
    _container: Container | None = None

    def container(self) -> Container:
        if self._container is None:
            settings = Settings.load(self.data_dir)
            self._container = Container(settings)
            result = initialise(self._container)
            if result.first_admin:
                name, password = result.first_admin
                err.print(
                    f"Created the first administrator '{name}' with the one-time password "
                    f"[bold yellow]{password}[/bold yellow] (shown once; change it at first sign-in)",
                    soft_wrap=True,
                    highlight=False,
                )
        return self._container

    def actor(self, endpoint: str) -> Actor:
        c = self.container()
        if self.acting_as == CLI_ACCOUNT:
            return c.system_actor(endpoint)
        principal = user_principal(c.uow(), self.acting_as, "cli")
        return Actor(
            principal, Where(service="cli", endpoint=endpoint, client_address="local"), {"os_user": os_user()}
        )


state = State()


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def clear_errors(func: F) -> F:
    """Turn any expected failure into one clear line on stderr and a non-zero exit."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except typer.Exit:
            raise
        except DomainError as exc:
            raise fail(exc.message) from None
        except (KeyError_, BlobIntegrityError) as exc:
            raise fail(str(exc)) from None
        except KeyboardInterrupt:
            raise fail("interrupted; nothing partial was kept", 130) from None
        except OSError as exc:
            raise fail(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")) from None

    return wrapper  # type: ignore[return-value]


def is_tty() -> bool:
    return sys.stderr.isatty()
