"""What an import or an export did, for the operator: what came over, what changed, what did not.

Every note names where it comes from in the DSL (``model_config.agent_mode.tools[2]``), so the
operator can find it in the file; the lists keep the order in which the file was read.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Note:
    where: str
    text: str

    def line(self) -> str:
        return f"{self.where}: {self.text}" if self.where else self.text


@dataclass(slots=True)
class ImportReport:
    """What ``import_app`` did with one DSL file."""

    name: str = ""
    mode: str = ""
    version: str = ""
    # ``model_config`` keys (and ``app``) brought over as they were.
    mapped: list[str] = field(default_factory=list)
    # Brought over with a difference.
    changed: list[Note] = field(default_factory=list)
    # Not brought over: unknown providers or tools, unsupported features, settings with no place here.
    unmapped: list[Note] = field(default_factory=list)
    # Dataset ids of the source workspace that nothing binds to a difychat dataset.
    datasets: list[str] = field(default_factory=list)
    # Environment variables the entry reads (model and tool credentials, endpoints).
    env: list[str] = field(default_factory=list)
    # About the file itself (its version, a non-string version, its kind).
    warnings: list[str] = field(default_factory=list)
    # Plugins the file's ``dependencies`` list (for reference: difychat installs none).
    plugins: list[str] = field(default_factory=list)

    def change(self, where: str, text: str) -> None:
        self.changed.append(Note(where, text))

    def drop(self, where: str, text: str) -> None:
        self.unmapped.append(Note(where, text))

    def needs(self, variable: str) -> None:
        if variable not in self.env:
            self.env.append(variable)

    def render(self, destination: str) -> str:
        lines = [f'Imported "{self.name}" ({self.mode} app, DSL {self.version}) {destination}.']
        lines += [f"warning: {w}" for w in self.warnings]
        if self.mapped:
            lines.append("Brought over: " + ", ".join(self.mapped) + ".")
        _section(lines, "Changed:", [n.line() for n in self.changed])
        _section(lines, "Could not be mapped:", [n.line() for n in self.unmapped])
        _section(
            lines,
            "Datasets to bind (ids of the source workspace):",
            [
                f"{i}: import again with --dataset {i}=NAME (a difychat dataset's name or id)"
                for i in self.datasets
            ],
        )
        todo = [f"set {v}" for v in self.env]
        todo.append(f'create an API key: difychat keys create --app "{self.name}"')
        _section(lines, "Before serving it:", todo)
        _section(lines, "Plugins the source used (difychat needs none of them):", self.plugins)
        return "\n".join(lines) + "\n"


@dataclass(slots=True)
class ExportReport:
    """What ``export_app`` wrote, and what the target Dify needs."""

    name: str = ""
    mode: str = ""
    version: str = ""
    # Dify plugins the target workspace needs (``dependencies`` is written empty).
    plugins: list[str] = field(default_factory=list)
    changed: list[Note] = field(default_factory=list)
    # difychat settings that have no place in the DSL.
    unmapped: list[Note] = field(default_factory=list)
    # Dataset references written as they are: the target must have datasets with these ids.
    datasets: list[str] = field(default_factory=list)

    def change(self, where: str, text: str) -> None:
        self.changed.append(Note(where, text))

    def drop(self, where: str, text: str) -> None:
        self.unmapped.append(Note(where, text))

    def render(self, destination: str) -> str:
        lines = [f'Exported "{self.name}" ({self.mode} app) as DSL {self.version} {destination}.']
        lines.append("No credentials are written; dependencies is empty.")
        _section(lines, "The target workspace needs these plugins installed:", [f"{p}" for p in self.plugins])
        _section(lines, "Changed:", [n.line() for n in self.changed])
        _section(
            lines,
            "Not exported (difychat settings with no place in the DSL):",
            [n.line() for n in self.unmapped],
        )
        _section(
            lines,
            "Dataset references written as they are (bind datasets in the target):",
            self.datasets,
        )
        return "\n".join(lines) + "\n"


def _section(lines: list[str], title: str, items: list[str]) -> None:
    if items:
        lines.append(title)
        lines.extend(f"  - {item}" for item in items)
