"""The FHIR R4 facade under /fhir/R4: the medication list as List, MedicationStatement and Provenance.

Resources are built and validated with the `fhir.resources` R4B models: the pydantic-2 releases of that
package carry R5, R4B and STU3 but not R4 (4.0.1), and R4B's List, MedicationStatement, Provenance, Bundle and
OperationOutcome are the same as R4's on the wire. See docs/DECISIONS.md.
"""
