"""Import gradio without its stub writer: for every component class it defines, gradio reads the
class's source file back and regenerates a `.pyi` type stub (`component_meta.create_or_modify_pyi`),
about 40% of `import gradio` measured here, on every start of the server. Stubs serve type checkers
only; the installed package already ships them.

If a gradio release renames or drops that function, the replacement is never called and gradio
imports as it always did: the only effect of this module is time.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
import types

_TARGET = "gradio.component_meta"


def _no_stub(*_args, **_kwargs) -> None:
    return None


class _SkipStubWriter(importlib.abc.MetaPathFinder):
    """Finds gradio.component_meta once and, after its code runs, swaps the stub writer for a no-op."""

    def find_spec(self, name: str, path=None, target=None):  # noqa: ANN001 - the finder protocol
        if name != _TARGET:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        run = spec.loader.exec_module

        def exec_module(module: types.ModuleType) -> None:
            run(module)
            if callable(getattr(module, "create_or_modify_pyi", None)):
                module.create_or_modify_pyi = _no_stub

        spec.loader.exec_module = exec_module
        return spec


def import_gradio() -> types.ModuleType:
    """`import gradio`, skipping the stub writer when gradio is not imported yet."""
    if "gradio" not in sys.modules:
        sys.meta_path.insert(0, _SkipStubWriter())
    import gradio

    return gradio


__all__ = ["import_gradio"]
