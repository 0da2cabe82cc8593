"""Every table model, imported in one place so Alembic sees the whole schema."""

from pml.administration import models as _administration_models  # noqa: F401 - registers the tables
from pml.audit import models as _audit_models  # noqa: F401 - registers the tables
from pml.catalogue import models as _catalogue_models  # noqa: F401 - registers the tables
from pml.cds import models as _cds_models  # noqa: F401
from pml.db.base import Base
from pml.events import models as _events_models  # noqa: F401
from pml.idempotency import models as _idempotency_models  # noqa: F401 - registers the tables
from pml.medication_list import models as _medication_list_models  # noqa: F401
from pml.privacy import models as _privacy_models  # noqa: F401
from pml.reconciliation import models as _reconciliation_models  # noqa: F401

metadata = Base.metadata
