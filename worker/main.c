/* placeholder replaced by the config work in this same change */
#include <stdio.h>
int main(void) {
        return 2;
}
