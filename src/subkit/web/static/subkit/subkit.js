// The reference subscription page's behaviour: pop-ups, the Order Summary's ➕ / ➖, the
// API calls behind its buttons and "more" on the histories. Every figure shown comes from
// the server (the summary is rendered there from the facade's quote); nothing is computed
// here. No build step, no dependency, no request to another site.
(function () {
  "use strict";
  var root = document.getElementById("subkit");
  if (!root) return;
  var base = root.dataset.base || "/";
  var locale = root.dataset.locale || "";
  var alertBox = document.getElementById("sk-alert");

  function url(path) {
    return base + path;
  }

  function key() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return String(Date.now()) + "-" + String(Math.random()).slice(2);
  }

  function showError(text, where) {
    var box = where || alertBox;
    box.textContent = text;
    box.hidden = false;
    if (box === alertBox) box.focus();
  }

  function problemText(response) {
    return response.text().then(function (body) {
      try {
        var problem = JSON.parse(body);
        return { code: problem.code, text: problem.detail || problem.title || body };
      } catch (e) {
        return { code: null, text: body || String(response.status) };
      }
    });
  }

  // One API call (JSON in and out); a checkout goes to its payment page, anything else
  // reloads the page so it shows the stored state.
  function call(spec, body, onProblem) {
    var parts = spec.split(" ");
    var options = {
      method: parts[0],
      headers: { "Content-Type": "application/json", "Idempotency-Key": key() },
      body: parts[0] === "DELETE" ? undefined : body || "{}",
      credentials: "same-origin",
    };
    return fetch(url(parts[1]), options).then(function (response) {
      if (!response.ok) {
        return problemText(response).then(function (problem) {
          if (!onProblem || !onProblem(problem)) {
            showError(root.dataset.failed ? root.dataset.failed.replace("{detail}", problem.text) : problem.text);
          }
        });
      }
      return response.text().then(function (text) {
        var data = text ? JSON.parse(text) : {};
        var payment = data && data.payment;
        if (payment && payment.redirect_url) {
          window.location.assign(payment.redirect_url);
        } else {
          window.location.reload();
        }
      });
    });
  }

  // -- the Order Summary ------------------------------------------------------------------
  function summary(slot, order, focusId) {
    return fetch(url("page/summary?lang=" + encodeURIComponent(locale)), {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(order),
      credentials: "same-origin",
    }).then(function (response) {
      return response.text().then(function (html) {
        if (!response.ok) {
          showError(html);
          return;
        }
        slot.innerHTML = html;
        var target = (focusId && document.getElementById(focusId)) || null;
        if (target && target.disabled) {
          // the bound was reached: keep the focus on the other button of the pair
          var pair = focusId.replace(/-(more|less)$/, function (m, w) {
            return w === "more" ? "-less" : "-more";
          });
          target = document.getElementById(pair);
        }
        (target || slot.querySelector("h3")).focus();
      });
    });
  }

  function interval() {
    var chosen = root.querySelector("input[name=sk-interval]:checked");
    return chosen ? chosen.value : "monthly";
  }

  root.addEventListener("change", function (event) {
    var input = event.target;
    if (input.name === "sk-interval") {
      root.querySelectorAll(".sk-price").forEach(function (price) {
        price.hidden = price.dataset.interval !== input.value;
      });
      var open = document.querySelector("#change-summary .sk-summary");
      if (open) {
        var order = JSON.parse(open.dataset.order);
        order.interval = input.value;
        summary(document.getElementById("change-summary"), order);
      }
    }
    if (input.name === "balance") {
      document.getElementById("topup-limits").textContent = input.dataset.limits;
    }
  });

  root.addEventListener("click", function (event) {
    var button = event.target.closest("button, a[data-more]");
    if (!button || !root.contains(button)) return;
    var data = button.dataset;
    if (data.choose) {
      var wanted = interval();
      if (data.intervals.split(" ").indexOf(wanted) < 0) wanted = data.intervals.split(" ")[0];
      summary(document.getElementById("change-summary"), {
        kind: "change",
        plan: data.choose,
        interval: wanted,
        quantities: {},
      });
    } else if (data.add) {
      var quantities = {};
      quantities[data.add] = 1;
      summary(document.getElementById("addon-summary"), { kind: "addons", quantities: quantities });
    } else if (data.step) {
      var box = button.closest(".sk-summary");
      var order = JSON.parse(box.dataset.order);
      order.quantities[data.code] = (order.quantities[data.code] || 0) + Number(data.step);
      summary(box.parentElement, order, button.id);
    } else if (data.open) {
      var dialog = document.getElementById(data.open);
      if (data.stop) {
        var confirm = dialog.querySelector("[data-call]");
        confirm.dataset.call = "POST addons/" + encodeURIComponent(data.stop) + "/stop";
        var text = dialog.querySelector("[data-template]");
        text.textContent = text.dataset.template.replace("{name}", data.name);
      }
      dialog.showModal();
    } else if (data.more) {
      event.preventDefault();
      more(button);
    } else if (data.call) {
      button.disabled = true;
      var dialogOf = button.closest("dialog");
      call(data.call, data.body).then(function () {
        button.disabled = false;
        if (dialogOf && !alertBox.hidden) dialogOf.close();
      });
    }
  });

  // -- top-up -----------------------------------------------------------------------------
  var form = document.getElementById("topup-form");
  if (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var chosen = form.querySelector("input[name=balance]:checked");
      var error = document.getElementById("topup-error");
      error.hidden = true;
      var amount = form.elements.amount.value.trim();
      var body = JSON.stringify({ balance: chosen.value, amount: /^\d+$/.test(amount) ? Number(amount) : amount });
      call("POST topups", body, function (problem) {
        var text = problem.code === "top_up_out_of_range" ? chosen.dataset.refused : problem.text;
        showError(text, error);
        form.elements.amount.focus();
        return true;
      });
    });
  }

  // -- "more" on a history ----------------------------------------------------------------
  function more(link) {
    var name = link.dataset.more;
    var path = "page/rows/" + name + "?cursor=" + encodeURIComponent(link.dataset.cursor) +
      "&lang=" + encodeURIComponent(locale);
    fetch(url(path), { credentials: "same-origin" }).then(function (response) {
      return response.text().then(function (html) {
        if (!response.ok) {
          showError(html);
          return;
        }
        var body = root.querySelector("tbody[data-rows=" + name + "]");
        var first = body.rows.length;
        body.insertAdjacentHTML("beforeend", html);
        var next = response.headers.get("X-Subkit-Next-Cursor");
        if (next) {
          link.dataset.cursor = next;
        } else {
          link.remove();
        }
        var row = body.rows[first];
        if (row) {
          row.tabIndex = -1;
          row.focus();
        }
      });
    });
  }
})();
