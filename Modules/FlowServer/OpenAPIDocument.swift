/// The API's OpenAPI 3.1 description, served at `/api/openapi.json`; a test checks that its
/// paths and methods are exactly the server's API routes.
enum OpenAPIDocument {
  static let json = #"""
    {
      "openapi": "3.1.0",
      "info": {
        "title": "swift-flow server",
        "version": "1",
        "description": "The run history of swift-flow: flows, flow runs, task runs, transitions and logs, with live streams over server-sent events. Errors are JSON: {\"error\": {\"status\", \"code\", \"message\", \"fields\"}}. When the server has a token, send `Authorization: Bearer TOKEN`."
      },
      "paths": {
        "/healthz": {
          "get": {"summary": "The server is up.", "responses": {"200": {"description": "ok"}}}
        },
        "/metrics": {
          "get": {
            "summary": "Prometheus metrics: flow and task runs by final state, durations.",
            "responses": {"200": {"description": "Prometheus text format", "content": {"text/plain": {}}}}
          }
        },
        "/api/openapi.json": {
          "get": {"summary": "This document.", "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}}}}
        },
        "/api/flows": {
          "get": {
            "summary": "Every recorded flow version with its parameter schema.",
            "responses": {
              "200": {"description": "The flows", "content": {"application/json": {"schema": {"type": "object", "required": ["flows"], "properties": {"flows": {"type": "array", "items": {"$ref": "#/components/schemas/Flow"}}}}}}},
              "503": {"$ref": "#/components/responses/Error"}
            }
          }
        },
        "/api/flow-runs": {
          "get": {
            "summary": "One page of flow runs, newest first (keyset pagination: pass `next` as `after`).",
            "parameters": [
              {"$ref": "#/components/parameters/flow"}, {"$ref": "#/components/parameters/state"},
              {"name": "since", "in": "query", "schema": {"type": "string", "format": "date-time"}, "description": "Only runs started at or after this instant."},
              {"$ref": "#/components/parameters/limit"},
              {"name": "after", "in": "query", "schema": {"type": "string"}, "description": "The `next` cursor of the previous page."}
            ],
            "responses": {
              "200": {"description": "A page", "content": {"application/json": {"schema": {"type": "object", "required": ["flowRuns"], "properties": {"flowRuns": {"type": "array", "items": {"$ref": "#/components/schemas/FlowRun"}}, "next": {"type": ["string", "null"]}}}}}},
              "400": {"$ref": "#/components/responses/Error"}
            }
          }
        },
        "/api/flow-runs/stream": {
          "get": {
            "summary": "Server-sent events: a `run` event (a FlowRun) for every run of the filter's first page that appears or changes.",
            "parameters": [{"$ref": "#/components/parameters/flow"}, {"$ref": "#/components/parameters/state"}, {"$ref": "#/components/parameters/limit"}],
            "responses": {"200": {"description": "An event stream", "content": {"text/event-stream": {}}}, "400": {"$ref": "#/components/responses/Error"}}
          }
        },
        "/api/flow-runs/{id}": {
          "get": {
            "summary": "One flow run.",
            "parameters": [{"$ref": "#/components/parameters/id"}],
            "responses": {
              "200": {"description": "The run", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/FlowRun"}}}},
              "400": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}
            }
          }
        },
        "/api/flow-runs/{id}/task-runs": {
          "get": {
            "summary": "The run's task runs in flow order (mapped children after their parent).",
            "parameters": [{"$ref": "#/components/parameters/id"}],
            "responses": {
              "200": {"description": "The task runs", "content": {"application/json": {"schema": {"type": "object", "required": ["taskRuns"], "properties": {"taskRuns": {"type": "array", "items": {"$ref": "#/components/schemas/TaskRun"}}}}}}},
              "400": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}
            }
          }
        },
        "/api/flow-runs/{id}/transitions": {
          "get": {
            "summary": "A page of the run's transition log (pass `next` as `after`).",
            "parameters": [{"$ref": "#/components/parameters/id"}, {"$ref": "#/components/parameters/after"}, {"$ref": "#/components/parameters/limit"}],
            "responses": {
              "200": {"description": "A page", "content": {"application/json": {"schema": {"type": "object", "required": ["transitions"], "properties": {"transitions": {"type": "array", "items": {"$ref": "#/components/schemas/Transition"}}, "next": {"type": ["integer", "null"]}}}}}},
              "400": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}
            }
          }
        },
        "/api/flow-runs/{id}/logs": {
          "get": {
            "summary": "A page of the run's log records at a level or above (pass `next` as `after`).",
            "parameters": [
              {"$ref": "#/components/parameters/id"}, {"$ref": "#/components/parameters/after"}, {"$ref": "#/components/parameters/limit"},
              {"name": "level", "in": "query", "schema": {"type": "string", "enum": ["trace", "debug", "info", "notice", "warning", "error", "critical"]}}
            ],
            "responses": {
              "200": {"description": "A page", "content": {"application/json": {"schema": {"type": "object", "required": ["logs"], "properties": {"logs": {"type": "array", "items": {"$ref": "#/components/schemas/Log"}}, "next": {"type": ["integer", "null"]}}}}}},
              "400": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}
            }
          }
        },
        "/api/projects": {
          "get": {"summary": "Every project.", "responses": {"200": {"description": "The projects", "content": {"application/json": {"schema": {"type": "object", "required": ["projects"], "properties": {"projects": {"type": "array", "items": {"type": "object"}}}}}}}}}
        },
        "/api/deployments": {
          "get": {
            "summary": "The deployments (of one project with `project`).",
            "parameters": [{"name": "project", "in": "query", "schema": {"type": "string"}}],
            "responses": {"200": {"description": "The deployments", "content": {"application/json": {"schema": {"type": "object", "required": ["deployments"], "properties": {"deployments": {"type": "array", "items": {"$ref": "#/components/schemas/Deployment"}}}}}}}}
          }
        },
        "/api/deployments/{id}": {
          "get": {
            "summary": "One deployment with its parameter schema and defaults.",
            "parameters": [{"$ref": "#/components/parameters/id"}],
            "responses": {"200": {"description": "The deployment", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Deployment"}}}}, "400": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}}
          },
          "delete": {
            "summary": "Deletes the deployment with its versions: its runs no agent has started (Scheduled or Late) are removed with their records, its other unfinished runs cancelled (a running one at its agent's next heartbeat); finished runs keep their history.",
            "parameters": [{"$ref": "#/components/parameters/id"}],
            "responses": {"200": {"description": "The deleted deployment, and the runs removed and cancelled", "content": {"application/json": {"schema": {"type": "object", "required": ["deployment", "removedRuns", "cancelledRuns"], "properties": {"deployment": {"$ref": "#/components/schemas/Deployment"}, "removedRuns": {"type": "array", "items": {"type": "string", "format": "uuid"}}, "cancelledRuns": {"type": "array", "items": {"type": "string", "format": "uuid"}}}}}}}, "400": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}}
          }
        },
        "/api/deployments/{id}/runs": {
          "post": {
            "summary": "Queues a run of the deployment (Quick Run without parameters): the deployment's defaults under `parameters`, validated against its schema. The same `idempotencyKey` returns the same run.",
            "parameters": [{"$ref": "#/components/parameters/id"}],
            "requestBody": {"content": {"application/json": {"schema": {"type": "object", "additionalProperties": false, "properties": {"parameters": {"type": "object"}, "idempotencyKey": {"type": "string", "maxLength": 200}}}}}},
            "responses": {
              "201": {"description": "The queued run", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DeploymentRun"}}}},
              "400": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}, "413": {"$ref": "#/components/responses/Error"},
              "422": {"description": "One message per invalid parameter in `error.fields`", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            }
          }
        },
        "/api/deployments/{id}/pause": {
          "post": {
            "summary": "Pauses the deployment's schedule: the scheduler creates no more runs and the unstarted runs it created (Scheduled or Late) are removed; runs created by hand are kept. Pausing a paused schedule changes nothing.",
            "parameters": [{"$ref": "#/components/parameters/id"}],
            "responses": {"200": {"$ref": "#/components/responses/ScheduleChange"}, "400": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}, "409": {"$ref": "#/components/responses/Error"}}
          }
        },
        "/api/deployments/{id}/resume": {
          "post": {
            "summary": "Resumes the deployment's paused schedule from now on: fire times missed while it was paused are not run.",
            "parameters": [{"$ref": "#/components/parameters/id"}],
            "responses": {"200": {"$ref": "#/components/responses/ScheduleChange"}, "400": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}, "409": {"$ref": "#/components/responses/Error"}}
          }
        },
        "/api/flow-runs/{id}/cancel": {
          "post": {
            "summary": "Requests cancellation of a deployment's run: a queued run ends Cancelled at once, a running one at its agent's next heartbeat.",
            "parameters": [{"$ref": "#/components/parameters/id"}],
            "responses": {"200": {"description": "The run", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DeploymentRun"}}}}, "400": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}}
          }
        },
        "/api/agents": {
          "get": {
            "summary": "Every agent: the registered ones (an agent registers when it starts and heartbeats while it runs) merged with those of the lease history (an agent renews the leases of the runs it works on); health is Active (holds leases), Idle (heartbeats, holds none), Unresponsive (missed 3 heartbeats, or its latest lease expired unreleased) or Stopped (stopped cleanly).",
            "responses": {"200": {"description": "The agents", "content": {"application/json": {"schema": {"type": "object", "required": ["agents"], "properties": {"agents": {"type": "array", "items": {"$ref": "#/components/schemas/Agent"}}}}}}}, "404": {"$ref": "#/components/responses/Error"}}
          }
        },
        "/api/run-counts": {
          "get": {
            "summary": "Runs started per interval over the last `hours` (24 intervals), by state (a Running run with a stale heartbeat counts as Crashed).",
            "parameters": [{"name": "hours", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 720, "default": 24}}],
            "responses": {"200": {"description": "The counts", "content": {"application/json": {"schema": {"type": "object", "required": ["since", "bucketSeconds", "buckets"], "properties": {"since": {"type": "string", "format": "date-time"}, "bucketSeconds": {"type": "number"}, "buckets": {"type": "array", "items": {"type": "object", "required": ["start", "counts"], "properties": {"start": {"type": "string", "format": "date-time"}, "counts": {"type": "object", "additionalProperties": {"type": "integer"}}}}}}}}}}, "400": {"$ref": "#/components/responses/Error"}}
          }
        },
        "/api/flow-runs/{id}/cluster": {
          "get": {
            "summary": "The run's cluster view: its workers (threads, running attempts, load, last report), every attempt with the worker thread that ran it, and the progress per task.",
            "parameters": [{"$ref": "#/components/parameters/id"}],
            "responses": {"200": {"description": "The cluster view", "content": {"application/json": {"schema": {"type": "object", "required": ["workers", "attempts", "progress"], "properties": {"workers": {"type": "array", "items": {"type": "object"}}, "attempts": {"type": "array", "items": {"type": "object"}}, "progress": {"type": "array", "items": {"type": "object"}}}}}}}, "400": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}}
          }
        },
        "/api/flow-runs/{id}/stream": {
          "get": {
            "summary": "Server-sent events of one run: `run` (a FlowRun, when it changes), `transitions` (an array of Transition), `logs` (an array of Log), and `end` once the run is final and everything was sent. Resumes from `Last-Event-ID`.",
            "parameters": [
              {"$ref": "#/components/parameters/id"},
              {"name": "transitions_after", "in": "query", "schema": {"type": "integer", "minimum": 0}},
              {"name": "logs_after", "in": "query", "schema": {"type": "integer", "minimum": 0}}
            ],
            "responses": {"200": {"description": "An event stream", "content": {"text/event-stream": {}}}, "400": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}}
          }
        }
      },
      "x-deployments": "Runs created here are queued (state Scheduled); an agent runs them.",
      "components": {
        "parameters": {
          "id": {"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}},
          "flow": {"name": "flow", "in": "query", "schema": {"type": "string"}, "description": "Only runs of this flow."},
          "state": {"name": "state", "in": "query", "schema": {"type": "string"}, "description": "Only runs in this state (Crashed includes runs whose heartbeat stopped)."},
          "limit": {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
          "after": {"name": "after", "in": "query", "schema": {"type": "integer", "minimum": 0}, "description": "Continue after this sequence number."}
        },
        "responses": {
          "Error": {"description": "The request was refused", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
          "ScheduleChange": {"description": "The deployment as it is now, and the IDs of the unstarted scheduled runs pausing removed", "content": {"application/json": {"schema": {"type": "object", "required": ["deployment", "removedRuns"], "properties": {"deployment": {"$ref": "#/components/schemas/Deployment"}, "removedRuns": {"type": "array", "items": {"type": "string", "format": "uuid"}}}}}}}
        },
        "schemas": {
          "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "required": ["status", "code", "message"], "properties": {"status": {"type": "integer"}, "code": {"type": "string"}, "message": {"type": "string"}, "fields": {"type": "object", "additionalProperties": {"type": "string"}}}}}},
          "Agent": {"type": "object", "required": ["agentID", "health", "held", "leases", "lost", "lastSeenAt", "lastSeenSecondsAgo"], "properties": {"agentID": {"type": "string"}, "health": {"type": "string", "enum": ["Active", "Idle", "Unresponsive", "Stopped"]}, "host": {"type": "string"}, "processID": {"type": "integer"}, "labels": {"type": "array", "items": {"type": "string"}}, "limit": {"type": "integer"}, "flows": {"type": "array", "items": {"type": "string"}}, "startedAt": {"type": "string", "format": "date-time"}, "lastHeartbeatAt": {"type": "string", "format": "date-time"}, "lastHeartbeatSecondsAgo": {"type": "number"}, "heartbeatIntervalSeconds": {"type": "number"}, "stoppedAt": {"type": "string", "format": "date-time"}, "held": {"type": "integer"}, "heldUntil": {"type": "string", "format": "date-time"}, "leases": {"type": "integer"}, "lost": {"type": "integer"}, "firstClaimAt": {"type": "string", "format": "date-time"}, "lastClaimAt": {"type": "string", "format": "date-time"}, "lastReleaseAt": {"type": "string", "format": "date-time"}, "lastSeenAt": {"type": "string", "format": "date-time"}, "lastSeenSecondsAgo": {"type": "number"}}},
          "Deployment": {"type": "object", "required": ["id", "project", "name", "flowName", "flowVersion", "version", "parameterSchema", "schedulePaused", "defaultParameters", "labels", "crashRetries"], "properties": {"id": {"type": "string", "format": "uuid"}, "project": {"type": "string"}, "name": {"type": "string"}, "flowName": {"type": "string"}, "flowVersion": {"type": "string"}, "version": {"type": "integer"}, "parameterSchema": {"type": "object"}, "schedule": {"type": "object"}, "schedulePaused": {"type": "boolean"}, "defaultParameters": {"type": "object"}, "labels": {"type": "array", "items": {"type": "string"}}, "crashRetries": {"type": "integer"}}},
          "DeploymentRun": {"type": "object", "required": ["id", "deploymentID", "state", "parameters", "scheduledAt", "origin", "cancelRequested"], "properties": {"id": {"type": "string", "format": "uuid"}, "deploymentID": {"type": "string", "format": "uuid"}, "state": {"type": "string"}, "message": {"type": "string"}, "parameters": {"type": "object"}, "scheduledAt": {"type": "string", "format": "date-time"}, "origin": {"type": "string"}, "cancelRequested": {"type": "boolean"}}},
          "Flow": {"type": "object", "required": ["name", "version", "parameterSchema"], "properties": {"name": {"type": "string"}, "version": {"type": "string"}, "parameterSchema": {"type": "object"}}},
          "FlowRun": {"type": "object", "required": ["id", "flowName", "flowVersion", "parameters", "executor", "host", "processID", "scheduledAt", "startedAt", "state", "heartbeatAt"], "properties": {"id": {"type": "string", "format": "uuid"}, "flowName": {"type": "string"}, "flowVersion": {"type": "string"}, "parameters": {"type": "object"}, "executor": {"type": "string"}, "host": {"type": "string"}, "processID": {"type": "integer"}, "scheduledAt": {"type": "string", "format": "date-time"}, "startedAt": {"type": "string", "format": "date-time"}, "endedAt": {"type": "string", "format": "date-time"}, "durationSeconds": {"type": "number"}, "state": {"type": "string"}, "message": {"type": "string"}, "heartbeatAt": {"type": "string", "format": "date-time"}}},
          "TaskRun": {"type": "object", "required": ["slug", "mapIndex", "label", "state", "attempts", "crashedAttempts"], "properties": {"slug": {"type": "string"}, "mapIndex": {"type": "integer"}, "label": {"type": "string"}, "taskRunID": {"type": "string"}, "state": {"type": "string"}, "message": {"type": "string"}, "attempts": {"type": "integer"}, "crashedAttempts": {"type": "integer"}, "startedAt": {"type": "string", "format": "date-time"}, "endedAt": {"type": "string", "format": "date-time"}, "durationSeconds": {"type": "number"}, "resultLocation": {"type": "string"}}},
          "Transition": {"type": "object", "required": ["sequence", "mapIndex", "from", "to", "time"], "properties": {"sequence": {"type": "integer"}, "slug": {"type": "string"}, "mapIndex": {"type": "integer"}, "from": {"type": "string"}, "to": {"type": "string"}, "time": {"type": "string", "format": "date-time"}, "message": {"type": "string"}}},
          "Log": {"type": "object", "required": ["sequence", "time", "level", "message", "metadata"], "properties": {"sequence": {"type": "integer"}, "time": {"type": "string", "format": "date-time"}, "level": {"type": "string"}, "message": {"type": "string"}, "metadata": {"type": "object", "additionalProperties": {"type": "string"}}}}
        }
      }
    }
    """#
}
