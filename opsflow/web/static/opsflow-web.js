// opsflow-web: keeps a run page up to date while its run is under way.
// It asks /api/v1/runs/RUN_ID once a second and updates the steps, the
// run's state, who runs it and its picture in place; it stops once the run
// has ended, is suspended or is interrupted (its owner is gone), showing
// what is left to do.
// No other script, no third-party code: the page's CSP allows only this.
"use strict";

(function () {
  const ENDED = new Set(["SUCCESS", "REVERTED", "FAILURE", "SUSPENDED"]);
  const POLL_MS = 1000;

  function seconds(value) {
    if (!value) return "-";
    if (value < 60) return value.toFixed(2) + "s";
    const whole = Math.floor(value);
    return Math.floor(whole / 60) + "m" + String(whole % 60).padStart(2, "0") + "s";
  }

  function when(value) {
    if (!value) return "-";
    return value.replace("T", " ").split("+")[0].split(".")[0];
  }

  function setState(element, state) {
    element.textContent = state;
    element.className = "state state-" + state;
  }

  function stepRow(tbody, name) {
    for (const row of tbody.rows) {
      if (row.dataset.step === name) return row;
    }
    const row = tbody.insertRow();
    row.dataset.step = name;
    const fields = ["state", "started_at", "run_duration", "revert_duration",
      "attempts", "result"];
    row.insertCell().textContent = name;
    for (const field of fields) {
      const cell = row.insertCell();
      if (field === "state") {
        const span = document.createElement("span");
        span.dataset.field = "state";
        cell.appendChild(span);
      } else {
        cell.dataset.field = field;
      }
    }
    return row;
  }

  function field(row, name) {
    return row.querySelector('[data-field="' + name + '"]');
  }

  function showSteps(run) {
    const tbody = document.querySelector("#steps tbody");
    let changed = false;
    for (const [name, atom] of Object.entries(run.atoms)) {
      const row = stepRow(tbody, name);
      const state = field(row, "state");
      if (state.textContent !== atom.state) {
        setState(state, atom.state);
        changed = true;
      }
      field(row, "started_at").textContent = when(atom.started_at);
      field(row, "run_duration").textContent = seconds(atom.run_duration);
      field(row, "revert_duration").textContent = seconds(atom.revert_duration);
      field(row, "attempts").textContent = String(atom.attempts);
      field(row, "result").textContent =
        atom.result === null ? "" : JSON.stringify(atom.result);
    }
    return changed;
  }

  function showFailures(run) {
    const section = document.getElementById("failures");
    for (const old of section.querySelectorAll("article")) old.remove();
    for (const failure of run.failures) {
      const article = document.createElement("article");
      article.className = "failure";
      const title = document.createElement("h3");
      const verb = failure.phase === "execute" ? "failed" : "could not be reverted";
      title.textContent = "step " + failure.atom + " " + verb + ": " + failure.exception;
      const trace = document.createElement("pre");
      trace.textContent = failure.traceback;
      article.append(title, trace);
      section.appendChild(article);
    }
    section.hidden = run.failures.length === 0;
  }

  // Who runs it, and what is left to do when nobody does: the same callouts
  // the server draws on a reload.
  function showOwner(run) {
    document.getElementById("owner").textContent = run.running_by || "";
    document.getElementById("running-by").hidden = !run.running_by;
    const interrupted = document.getElementById("interrupted");
    if (run.interrupted) {
      document.getElementById("interrupted-why").textContent = run.interrupted.owner
        ? "its owner " + run.interrupted.owner + " is gone"
        : "no process runs it";
      document.getElementById("resume-command").textContent =
        run.interrupted.resume_command;
      document.getElementById("interrupted-revert-command").textContent =
        run.interrupted.revert_command;
    }
    interrupted.hidden = !run.interrupted;
    document.getElementById("suspended").hidden = run.state !== "SUSPENDED";
  }

  function showEnd(run) {
    const person = document.getElementById("needs-person");
    if (run.state === "FAILURE" && run.not_reverted.length) {
      document.getElementById("not-reverted").textContent = run.not_reverted.join(", ");
      document.getElementById("revert-command").textContent = run.revert_command || "";
      person.hidden = false;
    }
    showFailures(run);
    document.getElementById("live-note").hidden = true;
  }

  function refreshPicture(section, version) {
    const picture = document.getElementById("picture");
    picture.src = "/runs/" + section.dataset.runId + "/picture.svg?v=" + version;
  }

  function follow(section) {
    let version = 0;
    const url = "/api/v1/runs/" + encodeURIComponent(section.dataset.runId);

    async function poll() {
      let run;
      try {
        const response = await fetch(url, {
          credentials: "same-origin",
          headers: { Accept: "application/json" },
          cache: "no-store",
        });
        if (!response.ok) throw new Error("HTTP " + response.status);
        run = await response.json();
      } catch (error) {
        document.getElementById("live-note").textContent =
          "live: cannot reach opsflow-web (" + error.message + "), retrying";
        window.setTimeout(poll, POLL_MS * 3);
        return;
      }
      const stateElement = document.getElementById("run-state");
      let changed = showSteps(run);
      if (stateElement.textContent !== run.state) {
        setState(stateElement, run.state);
        changed = true;
      }
      document.getElementById("run-duration").textContent = seconds(run.duration);
      showOwner(run);
      const over = ENDED.has(run.state) || run.interrupted;
      if (changed || over) refreshPicture(section, ++version);
      if (over) {
        showEnd(run);
        section.dataset.live = "";
        section.dataset.ended = "1";
        return;
      }
      window.setTimeout(poll, POLL_MS);
    }

    window.setTimeout(poll, POLL_MS);
  }

  document.addEventListener("DOMContentLoaded", function () {
    const section = document.getElementById("run");
    if (section && section.dataset.live) follow(section);
  });
})();
