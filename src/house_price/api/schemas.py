"""The response bodies of the API (the request bodies are generated from the bundle's profile:
house_price.serving.requests)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class PredictResponse(BaseModel):
    prediction: float = Field(description="Predicted price.")
    model_version: str


class BatchPredictResponse(BaseModel):
    predictions: list[float] = Field(description="One prediction per row, in request order.")
    model_version: str


class HealthResponse(BaseModel):
    status: str = Field(description='"ok" when the model answers, else "unavailable".')
    model_version: str | None = None
    reason: str | None = Field(default=None, description="Why the model is unavailable.")


class LivenessResponse(BaseModel):
    status: str = Field(description='Always "alive": the process answers.')


class ServiceResponse(BaseModel):
    service: str
    api_version: str
    ready: bool = Field(description="Whether the model is loaded and self-checked (/readyz).")
    model_version: str | None = None
    endpoints: dict[str, str]


class ErrorResponse(BaseModel):
    detail: str


class FieldError(BaseModel):
    loc: list[str | int] = Field(
        description='Where: ["body", field] or ["body", "rows", i, field].'
    )
    msg: str = Field(description="What is wrong, prefixed with the field.")
    type: str
    input: Any = None
    ctx: dict[str, Any] | None = None


class ValidationErrorResponse(BaseModel):
    detail: list[FieldError]
