// Submit the vote form once the page has loaded; without script the button does it.
(function () {
  "use strict";
  var form = document.querySelector("form[data-autosubmit]");
  if (form && !sessionStorage.getItem(location.pathname)) {
    sessionStorage.setItem(location.pathname, "1");
    form.submit();
  }
})();
