"""One module per wire format, both directions, shared by the front doors (ingress) and the adaptors (egress).

Each module maps its provider's format to and from OpenAI chat, the pipeline's one inner shape, with one set
of tables: Claude as a channel and Claude as a front door read the same stop reasons, tool choices and
usage fields.
"""
