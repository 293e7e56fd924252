#!/usr/bin/env python3
"""A custom policy at work: what the cloud would see of a few prompts, offline.

``policy.yaml`` beside this file extends the default policy with a recognizer
of its own (employee IDs), a deny list (project code names) and new actions.
``PrivacyClient.sanitize`` detects, decides and transforms a prompt exactly
as a request would, without sending anything: no gateway, no local model.

    python examples/custom_policy/run.py
    privacy-partition policy test examples/custom_policy/policy.yaml

Only the route and the cloud's text are printed: the prompts' values stay in
this file.
"""

from __future__ import annotations

from pathlib import Path

from privacy_partition import PrivacyClient

POLICY = Path(__file__).resolve().with_name("policy.yaml")

# (what the prompt shows, the prompt)
PROMPTS = [
    ("an employee ID", "Summarize the leave taken by employee EMP-204918 in March."),
    ("the same ID again", "Did EMP-204918 also take leave in April?"),
    ("a project code name", "Draft the launch announcement for Project Nightjar."),
    ("a phone number", "Ask the caller at 212-555-0199 to send the invoice again."),
    ("an SSN", "My SSN is 536-22-1234, is my payroll record right?"),
]


def main() -> None:
    # One client for every prompt: it loads the detection engines once.
    with PrivacyClient.from_policy(POLICY) as client:
        print(f"policy {client.policy.name}, digest {client.policy.digest[:12]}\n")
        for label, prompt in PROMPTS:
            result = client.sanitize(prompt)
            print(f"{label}: route {result.route.value}, entities {list(result.entities)}")
            print(f"  the cloud would see: {result.cloud_text or '(nothing leaves the device)'}")


if __name__ == "__main__":
    main()
