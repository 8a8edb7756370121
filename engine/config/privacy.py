"""The `privacy` section: the usage and privacy policy the public page shows (Civil Code § 1798.90.51).

§ 1798.90.51(b) makes an ALPR operator publish a usage and privacy policy that covers seven things
(the letters below are its paragraphs (b)(2)(A)-(G)). Each is a field here, and the section refuses a
configuration where any of them is empty, so the API cannot start with a page that leaves one out.
The defaults are the department's policy 462 in its own words (docs/policy.md maps the clauses); a
site replaces any of them in its site file.
"""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from .base import Section

#: Each required element: field name -> (the statute's paragraph, what it is), in the statute's order.
REQUIRED_ELEMENTS: dict[str, tuple[str, str]] = {
    "authorised_uses": ("(b)(2)(A)", "the authorised uses and purposes of the ALPR system and its data"),
    "job_titles": ("(b)(2)(B)", "the job titles of the people allowed to use or reach it"),
    "training": ("(b)(2)(B)", "the training those people need"),
    "monitoring": ("(b)(2)(C)", "how use is monitored for security and compliance with privacy laws"),
    "sharing": ("(b)(2)(D)", "the purposes of, process for and restrictions on sharing ALPR data"),
    "custodian_title": ("(b)(2)(E)", "the title of the official custodian responsible for the system"),
    "accuracy": ("(b)(2)(F)", "how accuracy is kept and data errors are corrected"),
    "retention": ("(b)(2)(G)", "how long data is kept and how it is decided when to destroy it"),
}

_USES = (
    "Automated license plate readers (ALPR) photograph the license plates of passing vehicles, read the "
    "characters, and compare them with lists of vehicles of interest. Department members use the system "
    "and its data for official law enforcement business only: to locate stolen, wanted or "
    "subject-of-investigation vehicles, to look for vehicles associated with missing or wanted persons, "
    "to canvass areas around crime scenes, and for a specific criminal investigation or a department civil "
    "or administrative action. Every search of the recorded data states its purpose and a case or "
    "incident number. Partial plates reported during major crimes may be entered to find suspect "
    "vehicles. An alert is a lead, not a confirmation: before acting on it, the officer verifies the "
    "vehicle through the California Law Enforcement Telecommunications System (CLETS) where practicable."
)
_TRAINING = (
    "Nobody uses or reaches ALPR data without department-approved training in ALPR operation and data "
    "access, recorded by a supervisor and renewed every year; the system refuses access to anyone whose "
    "training is not current (policy 462.7, Civil Code section 1798.90.53)."
)
_MONITORING = (
    "ALPR data is reachable only through an account with a password and, for roles that see data, a "
    "second factor. Every access is recorded by name, date, time, purpose and case number in an access "
    "log that cannot be changed without detection. The log is audited on a regular schedule: searches "
    "without a case number, searches by partial or approximate plate, large results, access out of "
    "hours, exports and sharing are reported, and a random sample of searches is reviewed by a "
    "supervisor who did not make them. Unusual access notifies supervisors."
)
_SHARING = (
    "ALPR data is not open to public review and is never sold. It is shared only with other California "
    "law enforcement or prosecutorial agencies for official law enforcement purposes, or as otherwise "
    "permitted by law: the agency makes a written request naming the agency, the person requesting and "
    "the intended purpose; the Administrative Services Division Captain or an authorised designee "
    "reviews and approves the request before it is fulfilled; the approved request is kept on file. "
    "Requests from other bodies are handled under the Records Maintenance and Release Policy "
    "(Civil Code section 1798.90.55)."
)
_ACCURACY = (
    "Each read keeps the camera's confidence in every character. Matches against lists of vehicles of "
    "interest are marked unverified until a dispatcher confirms them through CLETS or NCIC, and a false "
    "match is recorded with its reason. Lists are refreshed from their sources and each entry can carry "
    "an expiry. When a member finds a misread, the correction is recorded beside the original read, "
    "which is kept unchanged, and both are logged."
)
_RETENTION = (
    "ALPR data is kept for one year and then destroyed automatically, unless it has become, or it is "
    "reasonable to believe it will become, evidence in a criminal or civil action, or is subject to a "
    "discovery request or other lawful action to produce records. In that case it is placed under an "
    "evidence hold for the case, copied to portable media and booked into evidence, and kept until the "
    "hold is released by a supervisor. The access log is kept at least as long as the data it describes."
)


class PrivacyConfig(Section):
    """The public usage and privacy policy (Civil Code § 1798.90.51(b)), shown at /privacy."""

    agency: str = Field("the Police Department", title="The operator's name, as the page names it")
    authorised_uses: str = Field(_USES, title="(b)(2)(A) authorised uses and purposes")
    job_titles: list[str] = Field(
        default_factory=lambda: [
            "Police officers and sergeants assigned to patrol or investigations",
            "Public safety dispatchers",
            "Supervisors: sergeants, lieutenants, and the Administrative Services Division Captain",
            "System administrators designated by the Administrative Services Division Captain",
            "Auditors designated by the Chief of Police",
        ],
        title="(b)(2)(B) job titles of the people authorised to use or reach the system",
    )
    training: str = Field(_TRAINING, title="(b)(2)(B) the training they need")
    monitoring: str = Field(_MONITORING, title="(b)(2)(C) how use is monitored")
    sharing: str = Field(_SHARING, title="(b)(2)(D) sharing: purposes, process, restrictions")
    custodian_title: str = Field(
        "Administrative Services Division Captain", title="(b)(2)(E) title of the official custodian"
    )
    accuracy: str = Field(_ACCURACY, title="(b)(2)(F) accuracy and correcting errors")
    retention: str = Field(_RETENTION, title="(b)(2)(G) retention and destruction")
    contact: str = Field(
        "Questions about this policy go to the Administrative Services Division.",
        title="How the public reaches the custodian (optional)",
    )
    months: int = Field(12, ge=1, le=60, title="Months of aggregate counts the public page shows")

    @field_validator("job_titles")
    @classmethod
    def _titles(cls, value: list[str]) -> list[str]:
        return [v.strip() for v in value if v and v.strip()]

    @model_validator(mode="after")
    def _every_element(self) -> PrivacyConfig:
        missing = []
        for name, (paragraph, what) in REQUIRED_ELEMENTS.items():
            value = getattr(self, name)
            if not value or (isinstance(value, str) and not value.strip()):
                missing.append(f"{name} ({paragraph}: {what})")
        if missing:
            raise ValueError(
                "the usage and privacy policy lacks what Civil Code section 1798.90.51(b) requires: "
                + "; ".join(missing)
            )
        return self
